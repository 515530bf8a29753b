"""env.json's contents are read once per process: a shared sweep opens a run dir per point."""

from __future__ import annotations

import subprocess

from scale.runner import env


def test_environment_is_read_once_per_process_and_each_caller_gets_its_own_copy(monkeypatch):
    calls = []
    real = subprocess.run

    def counting(*args, **kwargs):
        if args[0][0] == "git":
            calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting)
    env._process_environment.cache_clear()
    try:
        first, second = env.environment(), env.environment()
        assert first == second and len(calls) == 2  # git rev-parse + git status, once
        assert list(first) == ["python", "platform", "host", "git_sha", "packages", "gpu", "argv"]
        first["packages"]["torch"] = "edited"
        assert env.environment()["packages"] == second["packages"] != first["packages"]
        monkeypatch.setattr(env.sys, "argv", ["scale-eval", "sweep=shared"])
        assert env.environment()["argv"] == ["scale-eval", "sweep=shared"]
    finally:
        env._process_environment.cache_clear()

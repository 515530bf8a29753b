"""Run ``transformers serve`` as a child process on 127.0.0.1 (a test harness, not library code).

::

    with ServeProcess("smollm2-135m-instruct", env={"HF_HUB_OFFLINE": "1"}) as server:
        engine = OpenAIEngine(server.base_url, server.model)
        ...

The server is pinned to one model (``transformers serve <model>``), so requests must name
exactly ``server.model``; another name gets HTTP 400. It runs in its own process group and
writes stdout/stderr to ``log_path``. ``start()`` waits for ``GET /health`` (bounded) and
fails with the log tail if the process dies or the wait runs out; ``stop()`` sends SIGTERM
to the child (its process group) and SIGKILL after a grace period; ``kill()`` sends
SIGKILL at once; ``restart()`` brings it back on the same port.

On a small shared CPU box pass ``env={"OMP_NUM_THREADS": "1"}``: torch's default threads
fighting other processes slowed short requests 3-8x in our tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from scale.errors import EngineError
from scale.models import resolve_model

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _serve_command() -> list[str]:
    """The ``transformers`` CLI of this interpreter's environment (``... serve`` follows)."""
    local = Path(sys.executable).parent / "transformers"
    if local.is_file() and os.access(local, os.X_OK):
        return [str(local)]
    found = shutil.which("transformers")
    if found:
        return [found]
    return [sys.executable, "-c", "from transformers.cli.transformers import main; main()"]


def _signal_child(proc: subprocess.Popen, sig: int) -> None:
    """Signal our child's process group (it leads one), or the child alone.

    Only while the child is unreaped, so its pid (and group id) cannot have been reused.
    """
    if proc.poll() is not None:
        return
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _reap(proc: subprocess.Popen) -> None:
    """Last-resort cleanup (garbage collection, interpreter exit): SIGKILL and wait."""
    _signal_child(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


class ServeProcess:
    """One ``transformers serve`` child bound to 127.0.0.1 on a fixed port."""

    def __init__(self, model: str, port: int | None = None, device: str = "cpu",
                 extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 log_path: str | os.PathLike | None = None, startup_timeout_s: float = 300.0,
                 grace_s: float = 10.0, resolve: bool = True) -> None:
        if resolve:
            model = resolve_model(model)
        self.model = str(model)
        self.port = int(port) if port else free_port()
        self.device = device
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"transformers-serve-{self.port}-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self.startup_timeout_s = startup_timeout_s
        self.grace_s = grace_s
        self.proc: subprocess.Popen | None = None
        self._finalizer: weakref.finalize | None = None

    # -- addresses --------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (``.../v1``) for :class:`~scale.engine.openai_engine.OpenAIEngine`."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        return [*_serve_command(), "serve", self.model, "--host", HOST, "--port", str(self.port),
                "--device", self.device, *self.extra_args]

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> ServeProcess:
        """Start the server and wait until ``/health`` answers 200."""
        if self.running:
            return self
        cmd = self.command()
        env = {**os.environ, **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} start: {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )
        self._finalizer = weakref.finalize(self, _reap, self.proc)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                code = self.proc.poll()
                if code is not None:
                    raise EngineError(
                        f"transformers serve exited with code {code} during start-up on port "
                        f"{self.port} (log {self.log_path}); last lines:\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EngineError(
                        f"transformers serve on port {self.port} not healthy after "
                        f"{self.startup_timeout_s:g}s (log {self.log_path}); last lines:\n{self.log_tail()}"
                    )
                time.sleep(0.25)

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM the server (its process group), SIGKILL after ``grace_s``; wait for it."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            _signal_child(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace_s if grace_s is None else grace_s)
            except subprocess.TimeoutExpired:
                _signal_child(proc, signal.SIGKILL)
                proc.wait(timeout=30)
        self._detach()

    def kill(self) -> None:
        """SIGKILL the server's process group now (simulates a crash); wait for it."""
        proc = self.proc
        if proc is None:
            return
        _signal_child(proc, signal.SIGKILL)
        proc.wait(timeout=30)
        self._detach()

    def restart(self) -> ServeProcess:
        """Stop (if running) and start again on the same port."""
        self.stop()
        return self.start()

    def _detach(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"ServeProcess({self.model!r}, port={self.port}, {state})"

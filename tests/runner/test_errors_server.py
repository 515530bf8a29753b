"""One failed attempt never aborts a run: against a real ``transformers serve`` (issue 8, item 4).

A small fault-injecting HTTP proxy stands between the OpenAI engine and the real server: it
answers HTTP 500 to every request whose body holds one problem's text (fault injection) and
forwards the rest. The run finishes, that problem's record carries the error, and a rerun
with ``runner.retry_errors=true`` (fault gone) sends requests for that problem only,
counted at the proxy. (The runner's bookkeeping over a scripted engine:
test_errors_and_finalize.py.)
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from scale.data import load_benchmark
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing.config import compose
from tests.helpers.serve_process import HOST, ServeProcess
from tests.helpers.shard_env import clear_shard_env

pytestmark = [pytest.mark.slow, pytest.mark.server]


class FaultProxy:
    """Forwards POSTs to ``upstream``; answers 500 to bodies containing ``poison`` while ``failing``."""

    def __init__(self, upstream: str, poison: str) -> None:
        self.upstream = upstream
        self.poison = poison
        self.failing = True
        self.counts: Counter[str] = Counter()  # "poisoned" / "other" requests seen
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name for POST handlers
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                poisoned = proxy.poison in body.decode("utf-8", "replace")
                with proxy._lock:
                    proxy.counts["poisoned" if poisoned else "other"] += 1
                if poisoned and proxy.failing:
                    self._reply(500, b'{"error": {"message": "injected fault"}}')
                    return
                r = httpx.post(proxy.upstream + self.path, content=body, timeout=300,
                               headers={"Content-Type": "application/json"}, trust_env=False)
                self._reply(r.status_code, r.content)

            def _reply(self, status: int, content: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:  # keep pytest's output clean
                pass

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, smollm2_dir):
    srv = ServeProcess("smollm2-135m-instruct", device="cpu",
                       env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"},
                       log_path=tmp_path_factory.mktemp("serve") / "serve.log", startup_timeout_s=180)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_a_failing_prompt_is_one_error_record_and_a_retry_redoes_only_it(tmp_path, server, monkeypatch):
    clear_shard_env(monkeypatch)
    problems = load_benchmark("demo", limit=3)
    target = problems[1]
    poison = json.dumps(target.question[:40])[1:-1]  # as the problem's text appears in a JSON body
    with FaultProxy(server.url, poison) as proxy:
        cfg = compose("method=cot_s1", "data=demo", "data.limit=3", "engine=openai", f"run_dir={tmp_path / 'run'}",
                      "runner.progress=false", "runner.max_error_fraction=0.5", "engine.max_retries=1",
                      "engine.backoff_s=0.01", "engine.send_top_k=false", "systems.s1.sampling.max_new_tokens=8")
        cfg["systems"]["engines"]["main"].update(base_url=proxy.base_url, model=server.model)
        metrics = run_eval(cfg)
        records = RunDir(tmp_path / "run").collect().records
        assert len(records) == 3 and metrics.complete
        failed = [r for r in records.values() if r.error is not None]
        assert [r.problem_id for r in failed] == [target.id]
        assert failed[0].error["kind"] == "engine" and "HTTP 500" in failed[0].error["message"]
        assert (metrics.n_errors, metrics.errors) == (1, {"engine": 1})
        assert proxy.counts == {"poisoned": 2, "other": 2}  # 1 + max_retries tries; 1 call each for the rest
        # The fault is gone: a plain rerun does nothing, retry_errors=true redoes only that attempt.
        proxy.failing = False
        proxy.counts.clear()
        run_eval(cfg)
        assert sum(proxy.counts.values()) == 0
        metrics = run_eval({**cfg, "runner": {**cfg["runner"], "retry_errors": True}})
        assert proxy.counts == {"poisoned": 1}
    records = RunDir(tmp_path / "run").collect().records
    assert len(records) == 3 and all(r.error is None for r in records.values())
    assert metrics.n_errors == 0 and metrics.complete

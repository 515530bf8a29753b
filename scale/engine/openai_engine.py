"""Engine for an OpenAI-compatible chat server (vLLM, SGLang, ``transformers serve``).

Plain ``httpx`` against ``POST {base_url}/chat/completions`` (non-streaming):

* an ``asyncio.Semaphore(max_concurrency)`` bounds the HTTP requests in flight;
* HTTP 429, 5xx, connection errors, timeouts and broken/empty JSON bodies are retried
  with capped exponential backoff and jitter, up to ``max_retries`` retries
  (``1 + max_retries`` attempts); any other 4xx fails at once;
* failures surface as one-line :class:`~scale.errors.EngineError` messages.

Request body: ``model``, ``messages``, ``temperature``, ``top_p``, ``max_tokens``, plus
``seed`` (when set), ``stop`` (when non-empty), ``top_k`` (when > 0; vLLM/SGLang accept
it, ``transformers serve`` rejects it with 422), ``chat_template_kwargs`` (the request's
``template_kwargs``, when non-empty) and ``extra_body`` merged on top.

Reasoning comes from ``message.reasoning_content`` / ``message.reasoning`` (server-side
reasoning parsers) or from ``<think>...</think>`` left inline in the content. A thought
whose opening tag was in the prompt and that never closed (cut by ``max_tokens``) cannot
be told apart from an answer here and stays in ``text``.

Budget forcing (``request.budget``) needs control over the token stream; it lives in the
in-process HF engine and is refused here with a ConfigError.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any

import httpx

from scale.engine.reasoning import split_reasoning
from scale.engine.types import Completion, Engine, GenerationRequest
from scale.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 300


class _Retryable(Exception):
    """An attempt failed in a way worth retrying; ``retry_after`` is the server's hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _one_line(text: str, limit: int = _MAX_ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its body (OpenAI, vLLM, FastAPI shapes), one line."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return _one_line(response.text or response.reason_phrase or "(empty body)")
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return _one_line(err if isinstance(err, str) else json.dumps(err))
    return _one_line(json.dumps(data))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _validate_base_url(base_url: str) -> str:
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigError(f"openai engine: base_url must be an http(s) URL, got {base_url!r}")
    url = base_url.strip().rstrip("/")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as err:
        raise ConfigError(f"openai engine: invalid base_url {base_url!r}: {err}") from err
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(
            f"openai engine: base_url must look like http(s)://host:port/v1, got {base_url!r}"
        )
    return url


class OpenAIEngine(Engine):
    """Chat completions from an OpenAI-compatible server, with bounded concurrency and retries."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 max_concurrency: int = 16, timeout_s: float = 600.0, max_retries: int = 4,
                 backoff_s: float = 0.5, backoff_max_s: float = 8.0,
                 extra_body: dict | None = None, name: str | None = None,
                 send_top_k: bool = True) -> None:
        self.base_url = _validate_base_url(base_url)
        self.url = f"{self.base_url}/chat/completions"
        if not isinstance(model, str) or not model:
            raise ConfigError(f"openai engine: model must be a non-empty string, got {model!r}")
        if max_concurrency < 1:
            raise ConfigError(f"openai engine: max_concurrency must be >= 1, got {max_concurrency}")
        if timeout_s <= 0:
            raise ConfigError(f"openai engine: timeout_s must be > 0, got {timeout_s}")
        if max_retries < 0:
            raise ConfigError(f"openai engine: max_retries must be >= 0, got {max_retries}")
        if backoff_s < 0 or backoff_max_s < 0:
            raise ConfigError(
                f"openai engine: backoff_s and backoff_max_s must be >= 0, got {backoff_s}, {backoff_max_s}"
            )
        if extra_body is not None and not isinstance(extra_body, dict):
            raise ConfigError(f"openai engine: extra_body must be a mapping, got {type(extra_body).__name__}")
        self.name = name or model
        self.model = model
        self.api_key = api_key
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.extra_body = dict(extra_body or {})
        # `transformers serve` rejects fields outside the OpenAI schema (HTTP 422): send_top_k=false.
        self.send_top_k = send_top_k
        # Observability: HTTP requests in flight now / at most, and attempts made in total.
        self.in_flight = 0
        self.max_in_flight_seen = 0
        self.attempts_total = 0
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- plumbing ---------------------------------------------------------------------
    def _ensure_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """Client and semaphore bound to the running loop (rebuilt if the loop changed)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 30.0)),
                limits=httpx.Limits(max_connections=self.max_concurrency,
                                    max_keepalive_connections=self.max_concurrency),
                trust_env=False,
            )
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop
        assert self._semaphore is not None
        return self._client, self._semaphore

    async def aclose(self) -> None:
        client, self._client = self._client, None
        self._semaphore = None
        self._loop = None
        if client is not None and not client.is_closed:
            await client.aclose()

    def _delay(self, retry: int, retry_after: float | None) -> float:
        """Backoff before retry number ``retry`` (1-based): capped exponential, equal jitter."""
        cap = min(self.backoff_max_s, self.backoff_s * (2 ** (retry - 1)))
        delay = random.uniform(cap / 2, cap)
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(self.backoff_max_s, cap)))
        return delay

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (public for inspection and tests)."""
        s = request.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in request.messages],
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_new_tokens,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if s.top_k > 0 and self.send_top_k:
            body["top_k"] = s.top_k
        if request.template_kwargs:
            body["chat_template_kwargs"] = dict(request.template_kwargs)
        body.update(self.extra_body)
        return body

    # -- generation -------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> Completion:
        if request.budget is not None:
            raise ConfigError(
                f"engine {self.name!r} (openai): budget forcing is not supported over an "
                "OpenAI-compatible server; use the hf engine or drop the budget"
            )
        body = self.body(request)
        client, semaphore = self._ensure_client()
        attempts = 1 + self.max_retries
        last_error = ""
        for attempt in range(1, attempts + 1):
            try:
                async with semaphore:
                    data, seconds = await self._attempt(client, body)
                completion = self._parse(data, request)
            except _Retryable as err:
                last_error = str(err)
                if attempt == attempts:
                    break
                delay = self._delay(attempt, err.retry_after)
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs",
                            self.url, attempt, attempts, last_error, delay)
                await asyncio.sleep(delay)
                continue
            completion.seconds = seconds
            completion.meta["attempts"] = attempt
            return completion
        noun = "attempt" if attempts == 1 else "attempts"
        raise EngineError(f"POST {self.url} failed after {attempts} {noun}: {last_error}")

    async def _attempt(self, client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[dict, float]:
        """One HTTP round trip; returns the decoded body and its wall time."""
        self.attempts_total += 1
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        start = time.perf_counter()
        try:
            response = await client.post(self.url, json=body)
        except httpx.UnsupportedProtocol as err:  # not transient
            raise EngineError(f"POST {self.url}: {_one_line(err)}") from err
        except httpx.TimeoutException as err:
            raise _Retryable(f"{type(err).__name__} after {self.timeout_s:g}s") from err
        except httpx.TransportError as err:
            raise _Retryable(f"{type(err).__name__}: {_one_line(err) or 'connection failed'}") from err
        finally:
            self.in_flight -= 1
        seconds = time.perf_counter() - start
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}: {_server_message(response)}", _retry_after(response))
        if status >= 400:
            raise EngineError(
                f"POST {self.url} failed with HTTP {status} (not retried): {_server_message(response)}"
            )
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError) as err:
            raise _Retryable(
                f"HTTP {status} with a body that is not JSON: {_one_line(response.text, 120) or '(empty)'}"
            ) from err
        return data, seconds

    def _parse(self, data: Any, request: GenerationRequest) -> Completion:
        """Completion from a chat-completions body; malformed bodies are retryable."""
        if not isinstance(data, dict):
            raise _Retryable(f"response is not a JSON object: {_one_line(json.dumps(data), 120)}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _Retryable(f"response has no choices: {_one_line(json.dumps(data), 120)}")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise _Retryable(f"choice has no message: {_one_line(json.dumps(choice), 120)}")
        content = message.get("content") or ""
        if not isinstance(content, str):
            raise _Retryable(f"message content is not a string: {_one_line(json.dumps(content), 120)}")
        finish_raw = choice.get("finish_reason")
        finish_reason = "length" if finish_raw == "length" else "stop"

        # transformers serve keeps the stop string in the text; vLLM/OpenAI drop it. Drop it
        # here too (as the HF engine does): generation ended at the earliest occurrence.
        if request.stop and finish_reason == "stop":
            cuts = [content.find(s) for s in request.stop if s and s in content]
            if cuts:
                content = content[: min(cuts)]

        server_reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
        if not isinstance(server_reasoning, str):
            server_reasoning = ""
        if server_reasoning:
            reasoning, visible = server_reasoning.strip(), content.strip()
        else:
            reasoning, visible = split_reasoning(content)

        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt_tokens = _as_int(usage.get("prompt_tokens"))
        completion_tokens = _as_int(usage.get("completion_tokens"))
        details = usage.get("completion_tokens_details")
        reported = details.get("reasoning_tokens") if isinstance(details, dict) else None
        meta: dict[str, Any] = {"id": data.get("id"), "model": data.get("model")}
        if finish_raw != finish_reason:
            meta["finish_reason_raw"] = finish_raw
        if not usage:
            meta["usage_missing"] = True
        if reported is not None and (_as_int(reported) > 0 or not reasoning):
            reasoning_tokens = _as_int(reported)
        elif reasoning:
            total = len(reasoning) + len(visible)
            reasoning_tokens = round(completion_tokens * len(reasoning) / total) if total else 0
            meta["reasoning_tokens_estimated"] = True
        else:
            reasoning_tokens = 0
        return Completion(
            text=visible,
            reasoning=reasoning,
            prompt_tokens=prompt_tokens,
            response_tokens=completion_tokens,
            reasoning_tokens=reasoning_tokens,
            finish_reason=finish_reason,
            meta=meta,
        )

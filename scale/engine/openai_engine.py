"""Engine for an OpenAI-compatible server (vLLM, SGLang, ``transformers serve``).

Plain ``aiohttp`` against ``POST {base_url}/chat/completions`` (non-streaming):

* an ``asyncio.Semaphore(max_concurrency)`` bounds the HTTP requests in flight, over one
  keep-alive connection pool of that size (aiohttp, not httpx: at 256 requests in flight the
  engine costs ~0.5-0.7 ms of client CPU per request, bare httpx 16-19 ms; benchmarks/RESULTS.md);
* HTTP 429, 5xx, connection errors, timeouts and broken/empty JSON bodies are retried
  with capped exponential backoff and jitter, up to ``max_retries`` retries
  (``1 + max_retries`` attempts); any other 4xx fails at once;
* failures surface as one-line :class:`~scale.errors.EngineError` messages;
* the Bearer key comes from ``$OPENAI_API_KEY`` (or the variable ``api_key_env`` names);
  it is never logged nor written to the run dir (:mod:`scale.secrets`).

Request body: ``model``, ``messages``, ``temperature``, ``top_p``, ``max_tokens``, plus
``seed`` (when set), ``stop`` (when non-empty), ``top_k`` (when > 0 and ``send_top_k``;
vLLM/SGLang accept it, ``transformers serve`` rejects it with 422),
``chat_template_kwargs`` (the request's ``template_kwargs``, when non-empty),
``generation_overrides`` (the model's generation_config fields this run sets, e.g.
``repetition_penalty``: the HF engine sets them at load, a server gets them per request) and
``extra_body`` merged on top.

Reasoning comes from ``message.reasoning_content`` / ``message.reasoning`` (server-side
reasoning parsers) or from ``<think>...</think>`` left inline in the content. A thought
whose opening tag was in the prompt and that never closed (cut by ``max_tokens``) cannot
be told apart from an answer here and stays in ``text``.

Context window: a request with ``context_length`` is capped at ``context_length - prompt
tokens - context_margin`` new tokens, the prompt counted as :mod:`scale.engine.openai_prompt`
describes; a prompt that leaves no room, or a server's "maximum context length" 400,
comes back as a ``context_overflow`` completion. Budget forcing (``request.budget``)
runs in two calls (:mod:`scale.engine.openai_forcing`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import ssl
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import aiohttp

from scale.checks import NonNegative, OneOf, Positive, Range, check_args
from scale.engine.openai_prompt import PromptTokenizer, is_context_error
from scale.engine.reasoning import cut_at_stop, split_reasoning
from scale.engine.types import Completion, Engine, GenerationRequest, context_overflow
from scale.errors import ConfigError, EngineError
from scale.secrets import DEFAULT_KEY_ENV

FORCING_MODES = ("auto", "completions", "continue_final_message")
Seconds = Annotated[float, Range(ge=0)]

log = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 300
_JSON = {"Content-Type": "application/json"}


class ContextOverflow(Exception):
    """The server refused the prompt for the context window (an HTTP 4xx saying so)."""


class _Retryable(Exception):
    """An attempt failed in a way worth retrying; ``retry_after`` is the server's hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _one_line(text: str, limit: int = _MAX_ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _server_message(raw: bytes, reason: str | None) -> str:
    """The error text a server put in its body (OpenAI, vLLM, FastAPI shapes), one line."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _one_line(raw.decode("utf-8", "replace") or reason or "(empty body)")
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return _one_line(err if isinstance(err, str) else json.dumps(err))
    return _one_line(json.dumps(data))


def _retry_after(value: str | None) -> float | None:
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
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as err:
        raise ConfigError(f"openai engine: invalid base_url {base_url!r}: {err}") from err
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"openai engine: base_url must look like http(s)://host:port/v1, got {base_url!r}"
        )
    return url


class OpenAIEngine(Engine):
    """Chat completions from an OpenAI-compatible server, with bounded concurrency and retries."""

    @check_args("engine")
    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 api_key_env: str | None = DEFAULT_KEY_ENV,
                 max_concurrency: Positive = 16, timeout_s: Annotated[float, Range(gt=0)] = 600.0,
                 max_retries: NonNegative = 4, backoff_s: Seconds = 0.5, backoff_max_s: Seconds = 8.0,
                 extra_body: dict | None = None, name: str | None = None,
                 send_top_k: bool = True, tokenizer: str | None = None,
                 budget_forcing: Annotated[str, OneOf(FORCING_MODES)] = "auto", generation_overrides: dict | None = None) -> None:
        self.base_url = _validate_base_url(base_url)
        self.url = f"{self.base_url}/chat/completions"
        self.completions_url = f"{self.base_url}/completions"
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        self.tokenize_url = f"{root}/tokenize"
        if not isinstance(model, str) or not model:
            raise ConfigError(f"openai engine: model must be a non-empty string, got {model!r}")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise ConfigError(f"openai engine: extra_body must be a mapping, got {type(extra_body).__name__}")
        if generation_overrides is not None and not isinstance(generation_overrides, dict):
            raise ConfigError(f"openai engine: generation_overrides must be a mapping, "
                              f"got {type(generation_overrides).__name__}")
        if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env.strip()):
            raise ConfigError(f"openai engine: api_key_env must name an environment variable, got {api_key_env!r}")
        self.name = name or model
        self.model = model
        self.api_key_env = api_key_env
        # The Bearer key: from the environment (never from a file the run writes; scale.secrets).
        self.api_key = api_key or (os.environ.get(api_key_env) if api_key_env else None) or None
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.extra_body = dict(extra_body or {})
        self.generation_overrides = dict(generation_overrides or {})
        # `transformers serve` rejects fields outside the OpenAI schema (HTTP 422): send_top_k=false.
        self.send_top_k = send_top_k
        # Prompt counts and rendering: a local tokenizer (engine.tokenizer, else the model name if it resolves).
        self.prompt_tokenizer = PromptTokenizer(tokenizer or model, required=tokenizer is not None)
        self.budget_forcing = budget_forcing
        self._server_tokenize: bool | None = None  # None = not tried yet
        # Observability: HTTP requests in flight now / at most, and attempts made in total.
        self.in_flight = 0
        self.max_in_flight_seen = 0
        self.attempts_total = 0
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- plumbing ---------------------------------------------------------------------
    def _ensure_client(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        """Session and semaphore bound to the running loop (rebuilt if the loop changed)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            connector = aiohttp.TCPConnector(limit=self.max_concurrency, ssl=_ssl_context())
            # sock_read as httpx's read timeout: a non-streamed reply sends nothing until it is done.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(self.timeout_s, 30.0),
                                            sock_read=self.timeout_s)
            self._session = aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout,
                                                  trust_env=False)
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop
        assert self._semaphore is not None
        return self._session, self._semaphore

    def batch_capacity(self) -> int:
        """The server's batch as configured here: the requests kept in flight."""
        return self.max_concurrency

    async def aclose(self) -> None:
        session, self._session = self._session, None
        self._semaphore = None
        self._loop = None
        if session is not None and not session.closed:
            await session.close()

    def _delay(self, retry: int, retry_after: float | None) -> float:
        """Backoff before retry number ``retry`` (1-based): capped exponential, equal jitter."""
        cap = min(self.backoff_max_s, self.backoff_s * (2 ** (retry - 1)))
        delay = random.uniform(cap / 2, cap)
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(self.backoff_max_s, cap)))
        return delay

    def sampling_fields(self, request: GenerationRequest, max_tokens: int, seed: int | None = None,
                        stop: tuple[str, ...] | None = None) -> dict:
        """temperature, top_p, max_tokens, seed, top_k, stop: shared by chat and completions bodies.

        ``seed`` and ``stop`` replace the request's own (budget forcing's calls).
        """
        s = request.sampling
        body: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": max_tokens}
        seed = s.seed if seed is None else seed
        if seed is not None:
            body["seed"] = seed
        stop = request.stop if stop is None else stop
        if stop:
            body["stop"] = list(stop)
        if s.top_k > 0 and self.send_top_k:
            body["top_k"] = s.top_k
        # The same generation_config fields the HF engine sets at load (vLLM and SGLang take them
        # per request), so a config decodes alike on either engine.
        body.update(self.generation_overrides)
        return body

    def body(self, request: GenerationRequest, max_tokens: int | None = None) -> dict[str, Any]:
        """The JSON body sent for ``request`` (public for inspection and tests)."""
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in request.messages]}
        body.update(self.sampling_fields(request, request.sampling.max_new_tokens if max_tokens is None else max_tokens))
        if request.template_kwargs:
            body["chat_template_kwargs"] = dict(request.template_kwargs)
        body.update(self.extra_body)
        return body

    # -- generation -------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> Completion:
        if request.budget is not None:
            from scale.engine.openai_forcing import generate_forced

            return await generate_forced(self, request)
        start = time.perf_counter()
        prompt_tokens, source = await self.prompt_count(request)
        cap = request.sampling.max_new_tokens
        if prompt_tokens is not None:
            cap = min(cap, request.room(prompt_tokens))
            if cap < 1:
                return overflow(request, prompt_tokens, source)
        try:
            data, attempts = await self.post(self.url, self.body(request, cap))
        except ContextOverflow as err:
            return overflow(request, prompt_tokens or 0, source, str(err))
        completion = self._parse(data, request)
        completion.seconds = time.perf_counter() - start
        completion.meta["attempts"] = attempts
        completion.meta["max_new_tokens"] = cap
        if source:
            completion.meta["prompt_tokens_source"] = source
        return completion

    async def prompt_count(self, request: GenerationRequest) -> tuple[int | None, str | None]:
        """The prompt's token count when the request has a context window (and its source)."""
        if request.context_length is None:
            return None, None
        if self.prompt_tokenizer.available:
            return self.prompt_tokenizer.count(list(request.messages), dict(request.template_kwargs)), "tokenizer"
        if self._server_tokenize is not False:
            body = {"model": self.model, "messages": [dict(m) for m in request.messages],
                    "add_generation_prompt": True}
            if request.template_kwargs:
                body["chat_template_kwargs"] = dict(request.template_kwargs)
            try:
                data, _ = await self.post(self.tokenize_url, body, retries=1)
                count = data.get("count") if isinstance(data, dict) else None
                if count is None and isinstance(data, dict) and isinstance(data.get("tokens"), list):
                    count = len(data["tokens"])
                if isinstance(count, int):
                    self._server_tokenize = True
                    return count, "server"
            except (EngineError, ContextOverflow) as err:
                log.info("%s: no usable /tokenize (%s); a context overflow shows as the server's 400",
                         self.tokenize_url, err)
            self._server_tokenize = False
        return None, None

    async def post(self, url: str, body: dict[str, Any], retries: int | None = None) -> tuple[Any, int]:
        """POST with retries; returns the decoded JSON body and the attempts it took."""
        session, semaphore = self._ensure_client()
        attempts = 1 + (self.max_retries if retries is None else retries)
        last_error = ""
        for attempt in range(1, attempts + 1):
            try:
                async with semaphore:
                    data = await self._attempt(session, body, url)
                if url != self.tokenize_url:
                    _check_shape(data, url)
                return data, attempt
            except _Retryable as err:
                last_error = str(err)
                if attempt == attempts:
                    break
                delay = self._delay(attempt, err.retry_after)
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs",
                            url, attempt, attempts, last_error, delay)
                await asyncio.sleep(delay)
        noun = "attempt" if attempts == 1 else "attempts"
        raise EngineError(f"POST {url} failed after {attempts} {noun}: {last_error}")

    async def _attempt(self, session: aiohttp.ClientSession, body: dict[str, Any], url: str) -> Any:
        """One HTTP round trip; returns the decoded body."""
        self.attempts_total += 1
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        try:
            async with session.post(url, data=json.dumps(body).encode(), headers=_JSON) as response:
                status, reason = response.status, response.reason
                retry_after = response.headers.get("Retry-After")
                raw = await response.read()
        except (aiohttp.InvalidURL, aiohttp.ClientConnectorSSLError) as err:  # not transient
            raise EngineError(f"POST {url}: {_one_line(err)}") from err
        except asyncio.TimeoutError as err:
            raise _Retryable(f"{type(err).__name__} after {self.timeout_s:g}s") from err
        except aiohttp.ClientError as err:  # refused, reset, dropped mid-reply, cut-off body
            raise _Retryable(f"{type(err).__name__}: {_one_line(err) or 'connection failed'}") from err
        finally:
            self.in_flight -= 1
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}: {_server_message(raw, reason)}", _retry_after(retry_after))
        if status >= 400:
            message = _server_message(raw, reason)
            if is_context_error(message):
                raise ContextOverflow(f"HTTP {status}: {message}")
            raise EngineError(f"POST {url} failed with HTTP {status} (not retried): {message}")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            text = _one_line(raw.decode("utf-8", "replace"), 120)
            raise _Retryable(f"HTTP {status} with a body that is not JSON: {text or '(empty)'}") from err

    def _parse(self, data: Any, request: GenerationRequest) -> Completion:
        """Completion from a chat-completions body (its shape checked by :func:`_check_shape`)."""
        _check_shape(data, self.url)
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content") or ""
        finish_raw = choice.get("finish_reason")
        finish_reason = "length" if finish_raw == "length" else "stop"

        # transformers serve keeps the stop string in the text; vLLM/OpenAI drop it. Drop it
        # here too (as the HF engine does): generation ended at the earliest occurrence.
        if request.stop and finish_reason == "stop":
            content = cut_at_stop(content, request.stop)

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


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One for every session: loading the CA store is slow."""
    return ssl.create_default_context()


def _check_shape(data: Any, url: str) -> None:
    """A chat or text completion body with a first choice; anything else is retryable."""
    if not isinstance(data, dict):
        raise _Retryable(f"response is not a JSON object: {_one_line(json.dumps(data), 120)}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Retryable(f"response has no choices: {_one_line(json.dumps(data), 120)}")
    choice = choices[0]
    if url.endswith("/chat/completions"):
        message = choice.get("message")
        if not isinstance(message, dict):
            raise _Retryable(f"choice has no message: {_one_line(json.dumps(choice), 120)}")
        if not isinstance(message.get("content") or "", str):
            raise _Retryable(f"message content is not a string: {_one_line(json.dumps(message), 120)}")
    elif not isinstance(choice.get("text") or "", str):
        raise _Retryable(f"choice text is not a string: {_one_line(json.dumps(choice), 120)}")


def overflow(request: GenerationRequest, prompt_tokens: int, source: str | None, error: str = "") -> Completion:
    """The prompt leaves no room in the context window: nothing generated, no exception."""
    meta: dict[str, Any] = {}
    if source:
        meta["prompt_tokens_source"] = source
    if error:
        meta["context_error"] = error
    return context_overflow(request, prompt_tokens, **meta)

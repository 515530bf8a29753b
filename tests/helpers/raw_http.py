"""A tiny HTTP/1.1 server on 127.0.0.1 that answers what a test scripts (no framework).

It stands in for a server's *answers* (503s, broken JSON, vLLM's error bodies), never for
a model: the engine under test speaks real HTTP to it::

    async with RawServer(lambda path, body: (200, {"ok": True})) as server:
        engine = OpenAIEngine(server.base_url, "m")
        ...
    server.seen  # [(path, decoded JSON body), ...] in arrival order
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

Reply = Callable[[str, Any], tuple[int, Any]]


class RawServer:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.seen: list[tuple[str, Any]] = []
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        path = lines[0].split()[1].decode()
        length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")), 0)
        raw = await reader.readexactly(length) if length else b""
        body = json.loads(raw) if raw else None
        self.seen.append((path, body))
        status, payload = self.reply(path, body)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (status, len(data), data))
        await writer.drain()
        writer.close()

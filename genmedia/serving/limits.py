"""Request limits of the HTTP API, applied before any route runs: header size (431) and JSON body size (413).

Why here and not in the proxy: Ray Serve 2.60's HTTP proxy builds its uvicorn server in
``ray/serve/_private/http_util.py`` (``start_asgi_http_server``) from ``uvicorn.Config(...)`` without ``http=``
or ``h11_max_incomplete_event_size``, so uvicorn picks httptools, whose parser has no header-size limit,
and ``HTTPOptions`` has no field for either; its ``middlewares`` field, the one way to wrap the proxy's app,
is refused since Ray 2.x (``ray/serve/config.py``, ``raise_for_middlewares_assignment``). So the proxy reads a
request's headers whatever their size, and the ingress refuses them before any route (or the job store) sees
the request. The JSON cap is checked against Content-Length before a byte of the body is read, and counted
while the body streams (chunked requests), so an oversized body is never parsed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from genmedia.config import ServeConfig
from genmedia.validation import printable

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """ASGI middleware: 431 past ``max_header_bytes`` of headers, 413 past ``max_json_bytes`` of body.

    Paths under ``streamed`` (uploads) stream their body to storage under their own cap and are not counted here.
    """

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        *,
        max_header_bytes: int,
        max_json_bytes: int,
        streamed: tuple[str, ...] = ("/v1/uploads",),
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_json_bytes = max_json_bytes
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > self.max_header_bytes:
            await _answer(
                send,
                431,
                f"request headers of {header_bytes} bytes exceed the {self.max_header_bytes}-byte limit "
                "(serve.max_header_bytes)",
            )
            return
        if scope["path"].startswith(self.streamed):
            await self.app(scope, receive, send)
            return
        cap = self.max_json_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            await _answer(send, 413, f"request body larger than the {cap}-byte limit (serve.max_json_bytes)")
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                raise HTTPException(413, f"request body larger than the {cap}-byte limit (serve.max_json_bytes)")
            return message

        await self.app(scope, counted, send)


def _validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's error list without the offending input (it may not be encodable) and with printable messages."""
    return [
        {
            "loc": [printable(str(p)) for p in e.get("loc", ())],
            "msg": printable(str(e.get("msg", ""))),
            "type": e.get("type"),
        }
        for e in errors
    ]


def install_limits(app: FastAPI, serve: ServeConfig) -> None:
    """Add :class:`RequestLimits` and a 422 handler that never echoes raw input (a lone surrogate cannot be encoded)."""
    app.add_middleware(RequestLimits, max_header_bytes=serve.max_header_bytes, max_json_bytes=serve.max_json_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_errors(list(e.errors()))}, status_code=422)

"""Requests and answers inside the sandbox are httpx's, whichever way they arrive: as an httpx
transport (tests, in-process) or through WSGI (the server). This module converts between WSGI and
httpx, and builds JSON answers."""

import contextlib
import json
import socket
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import httpx

JSON = {"Content-Type": "application/json"}
MAX_BODY = 1024 * 1024  # a stand-in has no business reading more


class LostAnswer(Exception):
    """The request was carried out, and its answer never reaches the caller (a fault switch):
    in-process the caller gets a read timeout, over HTTP the connection is dropped."""


def json_response(
    status: int, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={**JSON, **(headers or {})}
    )


def parse_json(request: httpx.Request) -> Any:
    """The request's JSON body; ValueError if it is not JSON."""
    return json.loads(request.content or b"")


def wsgi_request(environ: dict[str, Any]) -> httpx.Request:
    """The httpx request a WSGI environ describes."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
    query = environ.get("QUERY_STRING", "")
    url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
    headers = [
        (key[5:].replace("_", "-").lower(), value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    if environ.get("CONTENT_TYPE"):
        headers.append(("content-type", environ["CONTENT_TYPE"]))
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    return httpx.Request(environ.get("REQUEST_METHOD", "GET"), url, headers=headers, content=body)


def serve_wsgi(
    handle: Callable[[httpx.Request], httpx.Response],
    environ: dict[str, Any],
    start_response: Callable[..., object],
) -> Iterable[bytes]:
    """Answer one WSGI request with `handle`. A lost answer drops the connection unanswered
    (gunicorn hands us its socket); elsewhere it becomes a 504 nobody should rely on."""
    try:
        response = handle(wsgi_request(environ))
    except LostAnswer:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        response = httpx.Response(504, content=b"")
    content = response.read()
    reason = HTTPStatus(response.status_code).phrase
    headers = [
        (key, value)
        for key, value in response.headers.items()
        if key.lower() not in {"content-length", "transfer-encoding", "connection"}
    ]
    headers.append(("Content-Length", str(len(content))))
    start_response(f"{response.status_code} {reason}", headers)
    return [content]

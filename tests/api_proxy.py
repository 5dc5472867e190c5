"""A local HTTP proxy in front of the Prefect API that answers `503 Service Unavailable` to the
first N requests whose path matches, then forwards everything: the overloaded server of a busy
machine, on demand. Runs uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import re
import socket
import threading
import time

import httpx
import uvicorn


class FlakyProxy:
    def __init__(self, upstream: str, fail_first: int, path: str = r".*"):
        self.upstream = upstream.rstrip("/")
        self.fail_left = fail_first
        self.path = re.compile(path)
        self.refused: list[str] = []  # paths answered with 503
        self.forwarded: list[str] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        root = re.match(r"https?://[^/]+", self.upstream).group(0)
        self.url = f"http://127.0.0.1:{self.port}{self.upstream[len(root) :]}"
        self._root = root
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", lifespan="off", interface="asgi3")
        )

    def _should_fail(self, path: str) -> bool:
        with self._lock:
            if self.fail_left > 0 and self.path.search(path):
                self.fail_left -= 1
                self.refused.append(path)
                return True
        return False

    async def app(self, scope, receive, send):
        if scope["type"] != "http":  # events websocket: not proxied, Prefect's client copes
            if scope["type"] == "websocket":
                await send({"type": "websocket.close"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if self._should_fail(path):
            await send(
                {"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]}
            )
            await send({"type": "http.response.body", "body": b"Service Unavailable"})
            return
        self.forwarded.append(path)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.lower() != b"host"]
        url = f"{self._root}{path}" + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        async with httpx.AsyncClient(timeout=60) as client:
            resp = await client.request(scope["method"], url, headers=headers, content=body)
        out = [
            (k.encode(), v.encode())
            for k, v in resp.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        ]
        await send({"type": "http.response.start", "status": resp.status_code, "headers": out})
        await send({"type": "http.response.body", "body": resp.content})

    def __enter__(self) -> "FlakyProxy":
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

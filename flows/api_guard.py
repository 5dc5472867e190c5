"""The Prefect server every documented set-up runs: Prefect's own app behind a guard (issue #9).

Why: Prefect's self-hosted API gives everyone holding the shared UI password every route, and
three of them let a colleague act with a code someone else typed. A person's Resume stores the
form, 验证码 included, under the wait's response key (`suspended-<key>-response`, Prefect's
keyset_from_base_key naming) until the run executes; anyone could then
`DELETE /api/flow_runs/{id}/input/{key}` and `POST /api/flow_runs/{id}/input` their own content
with that code, or force the run back into the same wait (`set_state`, force, PAUSED with the
key) and resume it themselves. The run's state-history check (flows/input_proof.py) could only
bound the rewrite in time. Here the server refuses them (403, one Chinese line in `detail`):

- DELETE of any flow-run input: nothing in the project, Prefect's client or its UI deletes one
  (the server's own pause rule deletes a stale keyset internally, not through the route);
- POST of an input whose key is a response key (`…-response`): only the server's own
  `resume_flow_run` writes those, internally and validated against the wait's schema. Schema and
  description keys stay writable: the runs' suspends and the intake's pre-created waits write them;
- `set_state` into PAUSED that names a pause key or an input keyset with force (no client of
  Prefect's forces a pause; the UI's Suspend names neither), or with a keyset other than the
  one Prefect derives from the key (a resume would write the response where the keyset says).

Reading stays open (the UI reads schemas and descriptions, the run its own response; the
password is shared, so the server cannot tell them apart): what a reader learns is a code
that the run will consume or void when it processes that stored input, which nobody can now
remove or replace (docs/acting-by-email.md says what remains).

The match is deliberately wider than Prefect's routing (repeated slashes, a trailing slash, any
case, with or without the API prefix): refusing a path Prefect would not route costs nothing.
Every other request, websockets and the lifespan (migrations, services) pass through untouched,
and basic auth stays Prefect's. `serve()` runs it the way `prefect server start` runs Prefect's
app (uvicorn in this process, the same settings); `rectify server` and `rectify up` call it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flows import sqlite_writes

DELETE_INPUT = re.compile(r"/flow_runs/[^/]+/input(/|$)", re.IGNORECASE)
CREATE_INPUT = re.compile(r"/flow_runs/[^/]+/input$", re.IGNORECASE)
SET_STATE = re.compile(r"/flow_runs/[^/]+/set_state$", re.IGNORECASE)
RESPONSE_SUFFIX = "-response"

NO_DELETE = (
    "流程运行的表单内容不能通过接口删除：表单内容只由“Resume”（恢复）保存，"
    "流程运行处理后保留备查（整改台账服务器防护）"
)
NO_RESPONSE = "表单答复只能通过“Resume”（恢复）提交，不能通过接口直接写入（整改台账服务器防护）"
NO_PAUSE = (
    "不能通过接口设置带表单的等待状态：等待只能由流程运行自己设置，或与表单键不符（整改台账服务器防护）"
)

FALSE = (None, False, 0, "false", "0", "no", "off", "f", "n", "")


def route_path(scope: dict) -> str:
    """The request's path, repeated slashes collapsed and no trailing slash."""
    return re.sub(r"/+", "/", scope.get("path") or "/").rstrip("/")


def _pairs(body: bytes) -> list[tuple[str, Any]] | None:
    """The top-level name/value pairs of a JSON object, duplicates kept (json.loads, as FastAPI
    parses a body, keeps the last; a refusal looks at all). None when it is no JSON object."""
    try:
        parsed = json.loads(body, object_pairs_hook=lambda pairs: ("obj", pairs))
    except (ValueError, RecursionError):
        return None
    if not (isinstance(parsed, tuple) and parsed and parsed[0] == "obj"):
        return None
    return parsed[1]


def _plain(value: Any) -> Any:
    """A value parsed with _pairs back to ordinary dicts (the last duplicate wins, as in FastAPI)."""
    if isinstance(value, tuple) and value and value[0] == "obj":
        return {k: _plain(v) for k, v in value[1]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def response_key_written(body: bytes) -> bool:
    """`POST …/input`: does the body name a response key (under any duplicate of `key`)?"""
    pairs = _pairs(body) or []
    return any(
        name == "key" and isinstance(value, str) and value.strip().endswith(RESPONSE_SUFFIX)
        for name, value in pairs
    )


def forged_pause(body: bytes) -> bool:
    """`set_state` into PAUSED naming a pause key or keyset with force, or a keyset that is
    not the one Prefect derives from the state's name and key (prefect.input.run_input
    keyset_from_paused_state)."""
    pairs = _pairs(body)
    if pairs is None:
        return False
    fields = {name: _plain(value) for name, value in pairs}
    states = [_plain(v) for n, v in pairs if n == "state"]
    force = fields.get("force")
    for state in states:
        if not isinstance(state, dict) or str(state.get("type", "")).upper() != "PAUSED":
            continue
        details = state.get("state_details") or {}
        if not isinstance(details, dict):
            continue
        key, keyset = details.get("pause_key"), details.get("run_input_keyset")
        if (key is not None or keyset is not None) and not (
            force in FALSE or (isinstance(force, str) and force.strip().lower() in FALSE)
        ):
            return True
        if keyset is not None:
            base = f"{str(state.get('name') or '').lower()}-{key}"
            if keyset != {part: f"{base}-{part}" for part in ("description", "response", "schema")}:
                return True
    return False


class ApiGuard:
    """ASGI middleware around Prefect's app: refuses the routes above with 403."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope.get("method", "").upper(), route_path(scope)
        if method == "DELETE" and DELETE_INPUT.search(path):
            return await refuse(send, NO_DELETE)
        if method == "POST" and sqlite_writes.WRITE_FIRST_ROUTES.search(path):
            token = sqlite_writes.WRITE_FIRST.set(True)
            try:
                return await self.app(scope, receive, send)
            finally:
                sqlite_writes.WRITE_FIRST.reset(token)
        if method != "POST" or not (CREATE_INPUT.search(path) or SET_STATE.search(path)):
            return await self.app(scope, receive, send)
        body, messages = await _read_body(receive)
        if CREATE_INPUT.search(path) and response_key_written(body):
            return await refuse(send, NO_RESPONSE)
        if SET_STATE.search(path) and forged_pause(body):
            return await refuse(send, NO_PAUSE)
        return await self.app(scope, _replay(messages, receive), send)


async def _read_body(receive) -> tuple[bytes, list[dict]]:
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[dict], receive):
    pending = list(messages)

    async def replayed():
        return pending.pop(0) if pending else await receive()

    return replayed


async def refuse(send, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app():
    """Prefect's server app (API, UI, services in its lifespan) behind the guard, with the one
    route of the project's own on Prefect's API app (flows/server_forms.py) and the bulk run
    creation and resume beginning with the write lock on SQLite (flows/sqlite_writes.py)."""
    from prefect.server.api.server import create_app as prefect_app

    from flows import server_forms

    sqlite_writes.install()
    app = prefect_app(final=True)
    server_forms.add_route(app.api_app)
    return ApiGuard(app)


def serve(host: str | None = None, port: int | None = None) -> None:
    """As `prefect server start` in the foreground (prefect/cli/_server_utils.py
    `_run_in_foreground`, one worker): uvicorn in this process with Prefect's server settings."""
    import uvicorn
    from prefect.settings import (
        PREFECT_SERVER_API_HOST,
        PREFECT_SERVER_API_KEEPALIVE_TIMEOUT,
        PREFECT_SERVER_API_PORT,
        PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL,
        PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT,
        PREFECT_SERVER_LOGGING_LEVEL,
    )

    host = host or PREFECT_SERVER_API_HOST.value()
    port = port or PREFECT_SERVER_API_PORT.value()
    free_port_or_exit(host, port)  # before the app (migrations, services) starts, as Prefect does
    print(f"Prefect 服务器（整改台账防护）：http://{host}:{port}", flush=True)
    uvicorn.run(
        app=create_app(),
        host=host,
        port=port,
        timeout_keep_alive=PREFECT_SERVER_API_KEEPALIVE_TIMEOUT.value(),
        ws_ping_interval=PREFECT_SERVER_API_WEBSOCKET_PING_INTERVAL.value(),
        ws_ping_timeout=PREFECT_SERVER_API_WEBSOCKET_PING_TIMEOUT.value(),
        log_level=PREFECT_SERVER_LOGGING_LEVEL.value().lower(),
    )


def free_port_or_exit(host: str, port: int) -> None:
    """One line and exit 1 when the address cannot be bound (prefect/cli/server.py's check)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, socket.AF_UNSPEC, socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except socket.gaierror:
        raise SystemExit(f"错误：监听地址 {host} 无效") from None
    except OSError:
        raise SystemExit(f"错误：端口 {port} 已被占用（{host}），请用 --port 指定其他端口") from None


if __name__ == "__main__":  # `python -m flows.api_guard --host H --port P` (rectify up's child)
    import argparse

    parser = argparse.ArgumentParser(description="Prefect 服务器（整改台账防护）")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    serve(args.host, args.port)

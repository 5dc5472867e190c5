"""The guarded Prefect server (flows/api_guard.py, issue #9): nobody can delete, write or force a
wait's stored answer through the API, so the 验证码 a person typed acts only in their own form.

Through the real server every documented set-up runs (`rectify server`, a subprocess with basic
auth on, tests/e2e_helpers.py): the item flow executed in this process against it, as a worker
would. A colleague holding the UI password reads the owner's stored input (allowed), then tries
to delete it, write their own under the response key, and force the wait again: each 403 with
one Chinese line; the run applies the owner's own submission. A response written ahead of any
resume is refused the same way. Below: the guard's body checks, case by case, and the pass-through
of everything else (the body replayed intact) through Starlette's own ASGI stack.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from uuid import UUID

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flows.api_guard import (
    NO_DELETE,
    NO_PAUSE,
    NO_RESPONSE,
    ApiGuard,  # noqa: E402
    forged_pause,
    response_key_written,
)

AUTH = ("rectify", "guard-not-a-real-secret")
FORM = dict(
    request="申请销号", completes=[1], summary="已完成整改（本人）", evidence=["a.pdf"], submitter="刘洋"
)
FORGED = dict(request="申请销号", completes=[1], summary="（冒名）已完成", evidence=[], submitter="刘洋")


def _keyset(base: str) -> dict:
    return {part: f"{base}-{part}" for part in ("description", "response", "schema")}


def _state(key=None, keyset=None, name="Suspended", type_="PAUSED") -> dict:
    details = {}
    if key is not None:
        details["pause_key"] = key
    if keyset is not None:
        details["run_input_keyset"] = keyset
    return {"type": type_, "name": name, "state_details": details}


def _body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_response_keys_are_refused_however_the_body_names_them():
    assert response_key_written(_body(key="suspended-submit-1-0-response", value="{}"))
    assert response_key_written(b'{"key": "x-schema", "value": "{}", "key": "suspended-a-response"}')
    assert response_key_written(b'{"key": "suspended-a-response", "key": "x-schema"}')
    assert response_key_written(_body(key="suspended-a-response ", value="{}"))
    # what the runs and the intake write stays open; a body Prefect cannot parse is Prefect's 422
    assert not response_key_written(_body(key="suspended-submit-1-0-schema", value="{}"))
    assert not response_key_written(_body(key="suspended-submit-1-0-description", value='"x"'))
    assert not response_key_written(_body(key="x", value="suspended-a-response"))
    assert not response_key_written(b"not json")
    assert not response_key_written(b'["suspended-a-response"]')


def test_a_forced_pause_with_a_key_or_a_foreign_keyset_is_refused():
    own = _state("submit-1-0", _keyset("suspended-submit-1-0"))
    for force in (True, "true", "TRUE", 1, "1", "yes", "on"):
        assert forged_pause(_body(state=own, force=force)), force
        assert forged_pause(_body(state=_state("submit-1-0"), force=force)), force
        assert forged_pause(_body(state=_state(keyset=_keyset("x")), force=force)), force
    assert forged_pause(_body(state=_state("submit-1-0", type_="paused"), force=True))
    # not forced, but the answer would be stored where the run reads another wait's
    assert forged_pause(_body(state=_state("submit-1-0", _keyset("suspended-submit-1-1"))))
    duplicated = (
        f'{{"state": {json.dumps(_state("a", _keyset("suspended-b")))}, '
        f'"state": {json.dumps(_state("a", _keyset("suspended-a")))}}}'
    )
    assert forged_pause(duplicated.encode())  # FastAPI would take the last; any one counts
    # Prefect's own suspend (proposed, not forced), the UI's Suspend (forced, no key), others
    assert not forged_pause(_body(state=own, force=False))
    assert not forged_pause(_body(state=own))
    assert not forged_pause(_body(state=_state("k", _keyset("paused-k"), name="Paused")))
    assert not forged_pause(_body(state=_state(), force=True))
    assert not forged_pause(_body(state={"type": "CANCELLING", "name": "Cancelling"}, force=True))
    assert not forged_pause(
        _body(state={"type": "SCHEDULED", "state_details": {"pause_key": "x"}}, force=True)
    )


async def test_the_guard_refuses_in_front_of_an_app_and_replays_every_other_body():
    """Wrapped around a Starlette app (Prefect's server is one): the refused routes never reach
    it (with repeated slashes, a trailing slash, any case), the others get their body intact."""
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    reached: list[tuple[str, str, bytes]] = []

    async def anything(request):
        reached.append((request.method, request.url.path, await request.body()))
        return JSONResponse({"ok": True})

    inner = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST", "DELETE"])])

    run = "/api/flow_runs/1c6e0000-0000-0000-0000-000000000001"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ApiGuard(inner)), base_url="http://guard"
    ) as client:
        for method, path, body, detail in [
            ("DELETE", f"{run}/input/suspended-submit-1-0-response", None, NO_DELETE),
            ("DELETE", f"{run}/input/suspended-submit-1-0-schema", None, NO_DELETE),
            ("DELETE", f"/api//flow_runs/{run[15:]}//input/x/", None, NO_DELETE),
            ("DELETE", f"{run.upper()}/INPUT/x", None, NO_DELETE),
            ("POST", f"{run}/input", _body(key="suspended-a-response", value="{}"), NO_RESPONSE),
            ("POST", f"{run}/input/", _body(key="suspended-a-response", value="{}"), NO_RESPONSE),
            ("POST", f"{run}/set_state", _body(state=_state("k"), force=True), NO_PAUSE),
        ]:
            r = await client.request(method, path, content=body)
            assert (r.status_code, r.json()["detail"]) == (403, detail), (method, path)
            assert "整改台账服务器防护" in r.json()["detail"]
        assert reached == []
        allowed = [
            ("POST", f"{run}/input", _body(key="suspended-a-schema", value="{}" * 5000)),
            ("POST", f"{run}/set_state", _body(state=_state(), force=True)),
            ("POST", f"{run}/resume", _body(run_input={"code": "123456"})),
            ("GET", f"{run}/input/suspended-a-response", b""),
            ("DELETE", f"{run}", b""),
        ]
        for method, path, body in allowed:
            r = await client.request(method, path, content=body)
            assert r.status_code == 200, (method, path, r.text)
        assert reached == allowed


def _steal(api: str, run_id: UUID, key: str) -> str:
    import httpx

    value = httpx.get(f"{api}/flow_runs/{run_id}/input/suspended-{key}-response", auth=AUTH)
    assert value.status_code == 200, value.text
    return json.loads(value.text)["code"]


@pytest.mark.e2e
@pytest.mark.flow
def test_the_guarded_server_refuses_replacing_a_person_s_answer(tmp_path, sqlite_ledger):
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_URL,
        PREFECT_LOCAL_STORAGE_PATH,
        temporary_settings,
    )

    from e2e_helpers import prefect_server

    ledger = sqlite_ledger
    (tmp_path / "server").mkdir()
    with (
        prefect_server(
            tmp_path / "server",
            {
                "PREFECT_SERVER_API_AUTH_STRING": ":".join(AUTH),
            },
        ) as (_procs, api, _port, _env),
        temporary_settings(
            {
                PREFECT_API_URL: api,
                PREFECT_API_AUTH_STRING: ":".join(AUTH),
                PREFECT_LOCAL_STORAGE_PATH: tmp_path / "results",
            }
        ),
    ):
        try:
            _attack(api, ledger)
        finally:
            # Prefect's events and API-log workers are per process, bound to the API they first
            # met: drained (and so dropped) here, later tests in this process get fresh ones for
            # their own server instead of queueing for this one once it is gone (a later flow
            # test hung draining 420 events for the stopped server)
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            EventsWorker.drain_all(timeout=120)
            APILogWorker.drain_all(timeout=120)


def _attack(api: str, ledger: str) -> None:
    import httpx

    from item_flow_helpers import code, execute, resume, start, status, waits_at
    from ledger_helpers import dump
    from models import Status

    assert httpx.post(f"{api}/flow_runs/filter", json={}).status_code == 401  # auth is Prefect's
    from flows.item import rectification_item

    deployment = rectification_item.to_deployment(name="rectification-item").apply()
    run_id = start(deployment)
    assert waits_at(execute(run_id), "submit-1-0")
    run = f"{api}/flow_runs/{run_id}"

    # written ahead, before anyone resumed: refused (it would also block the owner's Resume)
    ahead = httpx.post(
        f"{run}/input",
        auth=AUTH,
        json={"key": "suspended-submit-1-0-response", "value": json.dumps(dict(FORGED, code="1"))},
    )
    assert (ahead.status_code, ahead.json()["detail"]) == (403, NO_RESPONSE)

    resume(run_id, **FORM, code=code("刘洋", "销号申请"))  # the owner's real Resume
    stolen = _steal(api, run_id, "submit-1-0")  # reading stays open (see the docs)
    before = dump(ledger)
    deleted = httpx.delete(f"{run}/input/suspended-submit-1-0-response", auth=AUTH)
    assert (deleted.status_code, deleted.json()["detail"]) == (403, NO_DELETE)
    written = httpx.post(
        f"{run}/input",
        auth=AUTH,
        json={"key": "suspended-submit-1-0-response", "value": json.dumps(dict(FORGED, code=stolen))},
    )
    assert (written.status_code, written.json()["detail"]) == (403, NO_RESPONSE)
    again = _state("submit-1-0", _keyset("suspended-submit-1-0"))
    forced = httpx.post(f"{run}/set_state", auth=AUTH, json={"state": again, "force": True})
    assert (forced.status_code, forced.json()["detail"]) == (403, NO_PAUSE)
    assert dump(ledger) == before
    assert (
        json.loads(httpx.get(f"{run}/input/suspended-submit-1-0-response", auth=AUTH).text)["summary"]
        == FORM["summary"]
    )

    run_now = execute(run_id)  # the worker's execution: the owner's own submission applies
    assert waits_at(run_now, "signoff-1-0"), run_now.state
    assert status(ledger) is Status.leader_review
    after = dump(ledger)
    assert any(
        FORM["summary"] in json.dumps(row, ensure_ascii=False, default=str)
        for table in after.values()
        for row in table
    )
    assert not any(
        FORGED["summary"] in json.dumps(row, ensure_ascii=False, default=str)
        for table in after.values()
        for row in table
    )

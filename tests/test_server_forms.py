"""The guarded server's route for the forms of many runs (flows/server_forms.py, issue #8).

Through the real `rectify server` with basic auth (tests/e2e_helpers.py), runs are created
waiting exactly as the intake creates them (tasks/waiting_runs.create_waiting_runs), and their
forms arrive in one call: each run holds the schema and description that building its form on
its own gives. A repeat keeps what is stored; a response key, a key Prefect would refuse, a
call without the password or with too many inputs is refused and writes nothing; a run that
is gone is reported. The one-input fallback (a plain Prefect server) runs in every flow test:
the test harness is Prefect's own server, without the route.

And the server's bulk run creation and resume begin with SQLite's write lock
(flows/sqlite_writes.py): a write another connection holds while a batch is created or a form
resumed, and commits meanwhile, makes them wait, not fail (Prefect's own routes, DEFERRED,
answer every run of the batch FAILED "database is locked", and the Resume 503).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from uuid import UUID, uuid4

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

AUTH = ("rectify", "forms-not-a-real-secret")
pytestmark = [pytest.mark.e2e, pytest.mark.flow]


def _wait(i: int):
    from rectify.waits import FormField, Wait

    return Wait(
        "submit",
        "submit",
        "销号申请",
        [
            FormField("summary", "整改情况", "说明", max_length=2000),
            FormField("submitter", "申请人", "责任人", "choice", ("刘洋", "孙丽")),
            FormField("code", "验证码", "邮件验证码", max_length=16),
        ],
        description=f"**事项 T-{i}**：<b>原样显示</b> 第{i}项",
    )


def _requests(n: int, prefix: str) -> list[dict]:
    return [
        {
            "code": f"{prefix}-{i}",
            "name": f"{prefix}-{i} 问题",
            "key": f"{prefix}-{i}@forms",
            "tags": ["部门:办公室"],
            "parameters": {"code": f"{prefix}-{i}", "title": "问题"},
            "wait": {"key": "submit-0", "wait": _wait(i), "tag": "待提交"},
        }
        for i in range(n)
    ]


def _stored(api: str, run_id) -> dict:
    import httpx

    got = httpx.post(
        f"{api}/flow_runs/{run_id}/input/filter", auth=AUTH, json={"prefix": "suspended-", "limit": 50}
    )
    assert got.status_code == 200, got.text
    return {i["key"]: i["value"] for i in got.json()}


def test_the_forms_of_many_runs_arrive_in_one_call(tmp_path):
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from e2e_helpers import prefect_server

    (tmp_path / "server").mkdir()
    with (
        prefect_server(tmp_path / "server", {"PREFECT_SERVER_API_AUTH_STRING": ":".join(AUTH)}) as (
            _procs,
            api,
            _port,
            _env,
        ),
        temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: ":".join(AUTH)}),
    ):
        try:
            _check(api)
            _bulk_waits_for_the_lock(api, tmp_path / "server" / "prefect-home" / "prefect.db")
        finally:  # as in test_api_guard: Prefect's per-process workers let go of this server
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            EventsWorker.drain_all(timeout=120)
            APILogWorker.drain_all(timeout=120)


def _check(api: str) -> None:
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    from flows.forms import build_form
    from flows.item import rectification_item
    from flows.server_forms import NOT_A_FORM, TOO_MANY
    from tasks.run_forms import LIMIT, RunsGone, form_values, save_forms
    from tasks.waiting_runs import create_waiting_runs

    route = f"{api}/rectify/run_forms"
    deployment = rectification_item.to_deployment(name="rectification-item").apply()
    requests = _requests(3, "T")

    async def create(reqs):
        async with get_client() as client:
            return await create_waiting_runs(client, deployment, reqs, build_form)

    runs = run_coro_as_sync(create(requests))
    keys = ("suspended-submit-0-schema", "suspended-submit-0-description")
    for req in requests:
        values = form_values(build_form(req["wait"]["wait"]))
        assert _stored(api, runs[req["code"]]) == dict(zip(keys, (values["schema"], values["description"])))
    one = runs["T-0"]
    before = _stored(api, one)

    # a repeat (an intake started again) keeps what is stored
    assert run_coro_as_sync(create(requests)) == runs
    again = [{"flow_run_id": one, "key": keys[1], "value": json.dumps("另一段说明")}]
    kept = httpx.post(route, auth=AUTH, json=again)
    assert (kept.status_code, kept.json()) == (200, {"created": 0, "kept": 1, "missing": [], "elsewhere": []})
    assert _stored(api, one) == before

    # refused whole, nothing written: a response key beside a form key, a key Prefect refuses,
    # no password, too many inputs
    answer = [
        {"flow_run_id": one, "key": "suspended-submit-1-0-schema", "value": "{}"},
        {"flow_run_id": one, "key": "suspended-submit-0-response", "value": json.dumps({"code": "1"})},
    ]
    refused = httpx.post(route, auth=AUTH, json=answer)
    assert (refused.status_code, refused.json()["detail"]) == (403, NOT_A_FORM)
    bad_key = [{"flow_run_id": one, "key": "suspended-submit 1-schema", "value": "{}"}]
    assert httpx.post(route, auth=AUTH, json=bad_key).status_code == 422
    assert httpx.post(route, json=answer[:1]).status_code == 401
    many = [{"flow_run_id": one, "key": f"k-{i}-schema", "value": "{}"} for i in range(LIMIT + 1)]
    too_many = httpx.post(route, auth=AUTH, json=many)
    assert (too_many.status_code, too_many.json()["detail"]) == (400, TOO_MANY)
    assert _stored(api, one) == before

    # a form for a wait the run is not at (a later one): left out, reported, nothing written
    later = [
        {"flow_run_id": one, "key": "suspended-submit-1-0-description", "value": json.dumps("将来的说明")}
    ]
    elsewhere = httpx.post(route, auth=AUTH, json=later)
    assert (elsewhere.status_code, elsewhere.json()) == (
        200,
        {"created": 0, "kept": 0, "missing": [], "elsewhere": [one]},
    )
    assert _stored(api, one) == before

    # a run deleted before its forms: reported; the others are saved (here: kept)
    gone, other = uuid4(), runs["T-2"]
    keyset = {"schema": keys[0], "description": keys[1]}
    new = [(gone, keyset, {"schema": "{}"}), (UUID(other), keyset, {"schema": "{}"})]
    stored = _stored(api, other)

    async def save():
        async with get_client() as client:
            await save_forms(client, new)

    with pytest.raises(RunsGone) as reported:
        run_coro_as_sync(save())
    assert str(gone) in str(reported.value) and "\n" not in str(reported.value)
    assert _stored(api, other) == stored


def _bulk_waits_for_the_lock(api: str, database: Path) -> None:
    import httpx

    deployment = httpx.get(f"{api}/deployments/name/rectification-item/rectification-item", auth=AUTH).json()[
        "id"
    ]
    runs = [{"name": f"锁-{i}", "parameters": {"code": f"L-{i}", "title": "问题"}} for i in range(3)]
    created = _while_another_writes(database, f"{api}/deployments/{deployment}/create_flow_run/bulk", runs)
    assert [r["status"] for r in created.json()["results"]] == ["CREATED"] * 3, created.text

    # a person's Resume while another connection writes: accepted, not "database is locked"
    waiting = httpx.post(
        f"{api}/flow_runs/filter",
        auth=AUTH,
        json={"flow_runs": {"name": {"any_": ["T-1 问题"]}}, "limit": 1},
    ).json()[0]["id"]
    answer = {"summary": "已整改", "submitter": "刘洋", "code": "123456"}
    resumed = _while_another_writes(database, f"{api}/flow_runs/{waiting}/resume", {"run_input": answer})
    assert resumed.json()["status"] == "ACCEPT", resumed.text


def _while_another_writes(database: Path, url: str, body):
    """POST `body` to `url` while another connection holds SQLite's write lock, and commit a
    write 1.5 s into the request (as the server's event persister does)."""
    import sqlite3
    import threading
    import time

    import httpx

    other = sqlite3.connect(database, timeout=30, isolation_level=None)
    other.execute("CREATE TABLE IF NOT EXISTS test_probe (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO test_probe VALUES (1)")
    answer: dict = {}
    sending = threading.Thread(
        target=lambda: answer.update(r=httpx.post(url, auth=AUTH, json=body, timeout=60))
    )
    sending.start()
    time.sleep(1.5)  # the request has begun: reading, or waiting for the lock
    other.execute("COMMIT")
    sending.join(60)
    other.close()
    assert answer["r"].status_code in (200, 201), answer["r"].text
    return answer["r"]

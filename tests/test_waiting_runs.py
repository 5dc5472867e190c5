"""Runs the intake creates already waiting (tasks/waiting_runs.py) behave exactly like runs that
suspended themselves: same pause key recorded, same form and description, the same refusals
with the reason on top of the next form, the same replay of stored input after a resume."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
from sqlalchemy import select

from ledger_helpers import dump
from models import Item, Status
from rectify import item_process
from item_flow_helpers import ledger_without_tries
from item_flow_helpers import actions, code, description, execute, resume, start, status, tags, waits_at
from waiting_run_helpers import paused, precreate, seed_new_items

pytestmark = pytest.mark.flow

CODE, TWIN = "ZG-2026-001", "ZG-2026-002"


@pytest.fixture
def ledger(sqlite_url, settings_env):
    return seed_new_items(sqlite_url, settings_env, (CODE, TWIN))


def ledger_without_tries_of(d: dict) -> dict:
    return {**d, "action_codes": [row[:-2] for row in d["action_codes"]]}


def inputs(run_id: UUID) -> dict[str, object]:
    """The run's stored inputs by key, with the run-specific part of the key left out."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        resp = client.request(
            "POST",
            "/flow_runs/{id}/input/filter",
            path_params={"id": run_id},
            json={"prefix": "suspended-", "limit": 50},
        )
        resp.raise_for_status()
    return {i["key"]: json.loads(i["value"]) for i in resp.json()}


def test_a_precreated_wait_is_the_wait_the_flow_would_have_made(ledger, item_deployment):
    own = execute(start(item_deployment, TWIN))  # suspends itself, the way it always did
    made = paused(precreate(ledger, item_deployment, CODE, "陈静", f"{CODE}@wait-1"))

    assert waits_at(own, "submit-1-0") and waits_at(made, "submit-1-0"), made.state
    assert made.state.name == own.state.name == "Suspended"
    assert made.state.type == own.state.type
    assert made.state.state_details.pause_reschedule
    # every detail the flow's own suspend leaves on its state, but the ids and the time
    per_run = {"flow_run_id", "transition_id", "scheduled_time"}
    assert made.state.state_details.model_dump(exclude=per_run) == own.state.state_details.model_dump(
        exclude=per_run
    )
    assert made.state.state_details.flow_run_id == made.id
    # the key recorded as HandlePausingFlows records it: what makes the resumed run read the input
    engine = {"retries", "retry_delay"}  # the flow's retry settings, copied in when it executes
    assert made.empirical_policy.model_dump(exclude=engine) == own.empirical_policy.model_dump(exclude=engine)
    assert made.empirical_policy.pause_keys == {"submit-1-0"}
    # what the run never did: it was never RUNNING (no start time, no run yet, no engine)
    assert (made.run_count, made.start_time, made.empirical_policy.retries) == (0, None, None)
    assert own.run_count == 1
    assert inputs(made.id)["suspended-submit-1-0-schema"] == inputs(own.id)["suspended-submit-1-0-schema"]
    assert description(made) == description(own).replace(TWIN, CODE)
    assert tags(made.id) == tags(own.id) == {"待提交"}  # the worklist tag from creation
    # the intake signed the assignment in the ledger, as the run would have
    assert actions(ledger) == [("assign", "陈静")] and status(ledger) is Status.in_progress


def test_a_precreated_wait_accepts_refuses_and_replays_like_a_suspended_run(ledger, item_deployment):
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.flow_runs import resume_flow_run

    run_id = precreate(ledger, item_deployment, CODE, "陈静", f"{CODE}@wait-2")

    # the server validates against the stored schema: a form without its fields is refused
    before = dump(ledger)
    with pytest.raises((RuntimeError, PrefectHTTPStatusError)):
        resume_flow_run(run_id, run_input={"summary": "缺少提交人"})
    assert waits_at(paused(run_id), "submit-1-0") and dump(ledger) == before

    # the leader's name with the owner's code: refused by the run, nothing written
    mine = code("刘洋", "销号申请")
    resume(run_id, summary="已完成", evidence=[], submitter="周建国", code=mine)
    run = execute(run_id)
    assert waits_at(run, "submit-1-1"), run.state
    # executed, it has what the engine sets; its run count stays 0 (a resumed run is not counted
    # again, IncrementFlowRunCount), one less than a run whose first execution was its own
    assert run.run_count == 0 and run.empirical_policy.retries == 0 and run.start_time
    assert run.empirical_policy.pause_keys == {"submit-1-0", "submit-1-1"}
    assert ledger_without_tries(ledger) == ledger_without_tries_of(before)  # the count aside
    text = description(run)
    assert text.startswith("**上次提交未被受理") and "不是发给周建国的" in text

    # executed from the top again: submit-1-0 replays the refused input, submit-1-1 the new one
    resume(run_id, summary="已完成", evidence=["报告.pdf"], completes=[1], submitter="刘洋", code=mine)
    run = execute(run_id)
    assert waits_at(run, "signoff-1-0"), run.state
    assert status(ledger) is Status.leader_review and tags(run_id) == {"待领导审核"}
    assert [a for a, _ in actions(ledger)] == ["assign", "submit"]

    resume(run_id, decision="同意销号", comment="同意", reviewer="周建国", code=code("周建国", "领导审核"))
    assert waits_at(execute(run_id), "review-1-0")
    resume(run_id, decision="同意销号", comment="同意", reviewer="陈静", code=code("陈静", "销号审核"))
    assert execute(run_id).state.is_completed()
    assert [a for a, _ in actions(ledger)] == ["assign", "submit", "signoff", "approve"]


def test_a_refused_assignment_waits_for_the_form_with_the_reason(ledger, item_deployment):
    """Signed by someone who is not a secretary: nothing written, the run waits at the
    assignment form, at the key the run computes (assign-0), with the reason on top."""
    before = dump(ledger)
    run_id = precreate(ledger, item_deployment, CODE, "刘洋", f"{CODE}@wait-3")
    run = paused(run_id)
    assert waits_at(run, "assign-0"), run.state
    # nothing assigned; only what the flow's own refused first turn writes too: every
    # secretary's 待交办 request, with her code
    after = dump(ledger)
    asked = ("outbox", "action_codes", "reminder_lines", "items")  # items: the run linked
    assert {k: v for k, v in after.items() if k not in asked} == {
        k: v for k, v in before.items() if k not in asked
    }
    with item_process.transaction(ledger) as s:
        item = s.scalars(select(Item).where(Item.code == CODE)).one()
        assert (item.status, item.flow_run_id) == (Status.new, str(run_id))
    assert sorted(row[1] for row in after["outbox"]) == [
        "assign_request:ZG-2026-001:1",
        "assign_request:ZG-2026-001:2",
    ]
    assert "上次提交未被受理" in description(run) and tags(run_id) == {"待交办"}
    schema = inputs(run_id)["suspended-assign-0-schema"]
    assert schema["properties"]["owner"]["default"] == "刘洋"

    # every secretary was asked, with a code, as the flow's own first turn would have
    resume(run_id, owner="刘洋", leader="周建国", secretary="陈静", code=code("陈静", "交办"))
    run = execute(run_id)
    assert waits_at(run, "submit-1-0"), run.state
    assert actions(ledger) == [("assign", "陈静")]


def test_creating_again_returns_the_same_waiting_run(ledger, item_deployment):
    first = precreate(ledger, item_deployment, CODE, "陈静", f"{CODE}@wait-4")
    again = precreate(ledger, item_deployment, CODE, "陈静", f"{CODE}@wait-4")
    assert again == first
    run = paused(first)
    assert waits_at(run, "submit-1-0")
    assert set(inputs(first)) == {"suspended-submit-1-0-schema", "suspended-submit-1-0-description"}


def test_runs_the_server_did_not_create_are_sent_again_then_reported(ledger, settings_env, item_deployment):
    """The bulk creation reports each run on its own. One the server refuses (here a parameter
    its schema rejects) is sent again until the patience is spent, then reported in one line;
    the others of the batch exist, waiting, and a corrected retry gets them back, not twins."""
    from prefect.client.orchestration import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    from flows.forms import build_form
    from tasks.waiting_runs import NotCreated, create_waiting_runs

    settings_env(ledger, api_patience_seconds="1")
    requests = []
    with item_process.transaction(ledger) as s:
        for c in (CODE, TWIN):
            item = s.scalars(select(Item).where(Item.code == c)).one()
            request = item_process.run_request(item, f"{c}@bulk")
            request["wait"] = first_wait_of(s, c)
            request["parameters"] = {"code": c, "title": "问题"}
            requests.append(request)
    requests[1]["parameters"]["title"] = 42  # refused by the deployment's parameter schema

    async def create():
        async with get_client() as client:
            return await create_waiting_runs(client, item_deployment, requests, build_form)

    with pytest.raises(NotCreated) as refused:
        run_coro_as_sync(create())
    line = str(refused.value)
    assert line.startswith("1个流程运行未能创建（ZG-2026-002：") and "\n" not in line
    requests[1]["parameters"]["title"] = "问题"
    runs = run_coro_as_sync(create())
    assert set(runs) == {CODE, TWIN}
    for c in (CODE, TWIN):
        run = paused(UUID(runs[c]))
        assert waits_at(run, "assign-0") and run.idempotency_key == f"{c}@bulk"
        assert set(inputs(run.id)) == {"suspended-assign-0-schema", "suspended-assign-0-description"}


def first_wait_of(session, code: str) -> dict:
    from rectify import waits
    from tasks.waiting_runs import wait_request

    return wait_request(waits.current_wait(session, code))

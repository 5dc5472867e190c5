"""The per-item flow run against Prefect's real API (the session's test harness).

A worker would execute a resumed run in a fresh process from the top; `execute()` does the same
in-process: it runs the flow for an existing flow run and returns when the run suspends or ends.
Resumes go through Prefect's own resume_flow_run, with the data the UI's form would send.
"""

from __future__ import annotations

from uuid import UUID

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ledger_helpers import DAY, add_item, add_people, dump
from models import AuditRecord, Evidence, Item, Status
from models.db import session_factory
from rectify import item_process

pytestmark = pytest.mark.flow

CODE = "ZG-2026-001"


@pytest.fixture(scope="module")
def item_deployment(prefect_harness):
    from flows.item import rectification_item

    return rectification_item.to_deployment(name="rectification-item").apply()


def seed(url: str, settings_env) -> str:
    """People and one new item with owner 刘洋 and leader 周建国, as the register gives them."""
    settings_env(url)
    with session_factory(url)() as s, s.begin():
        people = add_people(s)
        add_item(s, CODE, Status.new, owner=people["刘洋"], leader=people["周建国"])
    return url


@pytest.fixture
def ledger(db_url, settings_env):
    """On SQLite and PostgreSQL: the whole lifecycle and the command line's resume."""
    return seed(db_url, settings_env)


@pytest.fixture
def sqlite_ledger(sqlite_url, settings_env):
    """SQLite only, for the refusal cases: the rules themselves run on both backends in
    test_workflow.py, and every flow test costs a few seconds of the suite."""
    return seed(sqlite_url, settings_env)


def start(deployment_id, code: str = CODE) -> UUID:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(
            deployment_id, parameters={"code": code, "title": "问题", "day": DAY.isoformat()},
            name=f"{code} 问题",
        )
    return run.id


def execute(run_id: UUID):
    """Run the flow for this run like a worker would, until it suspends or finishes."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import Pause
    from prefect.flow_engine import run_flow

    from flows.item import rectification_item

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        try:
            run_flow(rectification_item, flow_run=run, parameters=run.parameters, return_type="state")
        except Pause:
            pass
        return client.read_flow_run(run_id)


def resume(run_id: UUID, **form) -> None:
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(run_id, run_input=form)


def description(run) -> str:
    """The form's description for the run's current wait, as the UI reads it."""
    from prefect.client.orchestration import get_client

    key = f"suspended-{run.state.state_details.pause_key}-description"
    with get_client(sync_client=True) as client:
        return client.read_flow_run_input(run.id, key)


def actions(url: str, code: str = CODE) -> list[tuple[str, str]]:
    with session_factory(url)() as s:
        item = s.scalars(select(Item).where(Item.code == code)).one()
        return [(a.action, a.actor) for a in
                s.scalars(select(AuditRecord).where(AuditRecord.item_id == item.id)
                          .order_by(AuditRecord.id))]


def status(url: str, code: str = CODE) -> Status:
    with session_factory(url)() as s:
        return s.scalar(select(Item.status).where(Item.code == code))


def waits_at(run, key: str) -> bool:
    return run.state.is_paused() and run.state.state_details.pause_key == key


def test_assign_then_reject_and_resubmit_then_approve(ledger, item_deployment):
    run_id = start(item_deployment)

    run = execute(run_id)
    assert waits_at(run, "submit-1-0"), run.state
    assert status(ledger) is Status.in_progress  # assigned by the secretary from the register
    assert actions(ledger)[-1] == ("assign", "陈静")
    assert CODE in description(run) and "刘洋" in description(run)

    resume(run_id, summary="已完成整改", evidence=["报告.pdf"], submitter="刘洋")
    run = execute(run_id)
    assert waits_at(run, "review-1-0"), run.state
    assert status(ledger) is Status.submitted
    assert "已完成整改" in description(run) and "报告.pdf" in description(run)

    resume(run_id, decision="退回整改", comment="佐证材料不足，请补充会议记录", reviewer="陈静")
    run = execute(run_id)
    assert waits_at(run, "submit-2-0"), run.state
    assert status(ledger) is Status.in_progress
    assert "佐证材料不足，请补充会议记录" in description(run)  # the reject comment in the form

    resume(run_id, summary="已补充会议记录", evidence=["会议记录.pdf"], submitter="周建国")
    run = execute(run_id)
    assert waits_at(run, "review-2-0"), run.state

    resume(run_id, decision="同意销号", comment="整改到位", reviewer="陈静")
    run = execute(run_id)
    assert run.state.is_completed(), run.state
    assert status(ledger) is Status.closed
    assert actions(ledger) == [("assign", "陈静"), ("submit", "刘洋"), ("reject", "陈静"),
                               ("submit", "周建国"), ("approve", "陈静")]
    with session_factory(ledger)() as s:
        assert sorted(s.scalars(select(Evidence.ref))) == ["会议记录.pdf", "报告.pdf"]


def test_refused_input_changes_nothing_and_asks_again(sqlite_ledger, item_deployment):
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    execute(run_id)

    before = dump(ledger)
    resume(run_id, summary="已完成", evidence=[], submitter="孙丽")  # not on this item
    run = execute(run_id)
    assert waits_at(run, "submit-1-1"), run.state
    assert dump(ledger) == before
    assert "上次提交未被受理" in description(run) and "孙丽 不是事项" in description(run)

    resume(run_id, summary="已完成", evidence=[], submitter="刘洋")
    run = execute(run_id)
    assert waits_at(run, "review-1-0"), run.state

    before = dump(ledger)
    resume(run_id, decision="同意销号", comment="", reviewer="周建国")  # a leader, not the secretary
    run = execute(run_id)
    assert waits_at(run, "review-1-1"), run.state
    assert dump(ledger) == before
    assert "仅秘书可以" in description(run)

    resume(run_id, decision="退回整改", comment="", reviewer="陈静")  # a reject needs a comment
    run = execute(run_id)
    assert waits_at(run, "review-1-2"), run.state
    assert dump(ledger) == before
    assert "退回意见不能为空" in description(run)

    resume(run_id, decision="同意销号", comment="同意", reviewer="陈静")
    run = execute(run_id)
    assert run.state.is_completed(), run.state
    assert [a for a, _ in actions(ledger)] == ["assign", "submit", "approve"]


def test_self_approval_is_refused(sqlite_ledger, item_deployment):
    """The secretary who owns an item submitted it: only another secretary may close it."""
    ledger = sqlite_ledger
    from rectify import workflow

    with session_factory(ledger)() as s, s.begin():
        chen = workflow.get_person(s, "陈静")
        workflow.assign(s, CODE, chen, DAY, owner=chen)
    run_id = start(item_deployment)
    run = execute(run_id)
    assert waits_at(run, "submit-1-0"), run.state  # already assigned: the flow goes on waiting

    resume(run_id, summary="已完成", evidence=[], submitter="陈静")
    execute(run_id)
    resume(run_id, decision="同意销号", comment="", reviewer="陈静")
    run = execute(run_id)
    assert waits_at(run, "review-1-1"), run.state
    assert status(ledger) is Status.submitted
    assert "不能审核自己的申请" in description(run)

    resume(run_id, decision="同意销号", comment="同意", reviewer="王芳")
    assert execute(run_id).state.is_completed()
    assert actions(ledger)[-1] == ("approve", "王芳")


def test_cli_resumes_the_waiting_run_and_the_step_happens_once(ledger, item_deployment):
    from rectify.cli import app

    run_id = start(item_deployment)
    execute(run_id)
    with session_factory(ledger)() as s, s.begin():
        item_process.link_run(s, CODE, str(run_id))
    cli = CliRunner()

    out = cli.invoke(app, ["submit", CODE, "--summary", "已整改", "--evidence", "a.pdf",
                           "--as", "刘洋", "--today", DAY.isoformat()])
    assert out.exit_code == 0, out.output
    assert "已恢复流程运行" in out.output
    run = execute(run_id)
    assert waits_at(run, "review-1-0"), run.state  # the run saw the ledger already moved

    out = cli.invoke(app, ["review", CODE, "--approve", "--comment", "同意",
                           "--as", "陈静", "--today", DAY.isoformat()])
    assert out.exit_code == 0, out.output
    assert execute(run_id).state.is_completed()
    assert [a for a, _ in actions(ledger)] == ["assign", "submit", "approve"]

    # a refused command changes nothing and does not touch the run
    out = cli.invoke(app, ["review", CODE, "--approve", "--as", "陈静", "--today", DAY.isoformat()])
    assert out.exit_code == 1 and "错误：" in out.output


def test_item_closed_while_no_run_waits_is_seen_when_the_run_looks(sqlite_ledger, item_deployment):
    ledger = sqlite_ledger
    from rectify.cli import app

    run_id = start(item_deployment)  # scheduled, not yet picked up by a worker
    with session_factory(ledger)() as s, s.begin():
        item_process.link_run(s, CODE, str(run_id))
    cli = CliRunner()
    day = ["--today", DAY.isoformat()]
    for args in (["assign", CODE, "--owner", "刘洋", "--as", "陈静"],
                 ["submit", CODE, "--summary", "已整改", "--as", "刘洋"],
                 ["review", CODE, "--approve", "--as", "陈静"]):
        out = cli.invoke(app, args + day)
        assert out.exit_code == 0, out.output
    assert "未在等待输入" in out.output

    run = execute(run_id)
    assert run.state.is_completed(), run.state
    assert [a for a, _ in actions(ledger)] == ["assign", "submit", "approve"]


def test_run_names_and_tags_come_from_the_register():
    assert item_process.short_title("学习形式还不够丰富，学习方式较为单一。") == "学习形式还不够丰富"
    assert item_process.run_name("ZG-1", "企业反映用工难，招工渠道少") == "ZG-1 企业反映用工难"
    assert item_process.short_title("一" * 30).endswith("…")
    assert item_process.run_tags("班子问题", "办公室", "周建国") == [
        "类别:班子问题", "部门:办公室", "领导:周建国"]
    assert item_process.run_tags("班子问题", "", None) == ["类别:班子问题"]


def test_an_item_without_owner_waits_for_the_secretary_to_assign(sqlite_url, settings_env,
                                                                  item_deployment):
    settings_env(sqlite_url)
    with session_factory(sqlite_url)() as s, s.begin():
        people = add_people(s)
        add_item(s, CODE, Status.new, leader=people["周建国"])
    run_id = start(item_deployment)
    run = execute(run_id)
    assert waits_at(run, "assign-0"), run.state
    assert "请秘书指定责任人" in description(run)

    resume(run_id, owner="刘洋", leader="", secretary="刘洋")  # only the secretary assigns
    run = execute(run_id)
    assert waits_at(run, "assign-1"), run.state
    assert "仅秘书可以" in description(run) and status(sqlite_url) is Status.new

    resume(run_id, owner="刘洋", leader="", secretary="陈静")
    run = execute(run_id)
    assert waits_at(run, "submit-1-0"), run.state
    assert actions(sqlite_url)[-1] == ("assign", "陈静")

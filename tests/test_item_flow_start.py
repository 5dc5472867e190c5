"""How an item's flow run begins and what it waits for first, against Prefect's real API (the
session's test harness): the assignment form when the register names no owner or no secretary
signs, a 长期坚持 item's 进展报送 form, the run's name and tags, the notices it delivers (and the
sweep's digests it leaves), and how often `rectify serve` looks for resumed runs.
The whole lifecycle, refusals and wrong codes are in test_item_flow.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ledger_helpers import DAY, add_item, add_people, dump
from mail_codes import mails
from models import Status
from models.db import session_factory
from rectify import item_process
from rectify.settings import get_settings
from item_flow_helpers import (
    CODE,
    EMAIL,
    actions,
    code,
    description,
    execute,
    refused_form,
    resume,
    start,
    status,
    tags,
    waits_at,
)

pytestmark = pytest.mark.flow


def test_run_names_and_tags_come_from_the_register():
    assert item_process.short_title("学习形式还不够丰富，学习方式较为单一。") == "学习形式还不够丰富"
    assert item_process.run_name("ZG-1", "企业反映用工难，招工渠道少") == "ZG-1 企业反映用工难"
    assert item_process.short_title("一" * 30).endswith("…")
    assert item_process.run_tags("班子问题", "办公室", "周建国") == [
        "类别:班子问题",
        "部门:办公室",
        "领导:周建国",
    ]
    assert item_process.run_tags("班子问题", "", None) == ["类别:班子问题"]


def test_an_item_without_owner_waits_for_the_secretary_to_assign(sqlite_url, settings_env, item_deployment):
    settings_env(sqlite_url, today=DAY.isoformat())
    with session_factory(sqlite_url)() as s, s.begin():
        people = add_people(s)
        add_item(s, CODE, Status.new, leader=people["周建国"])
    run_id = start(item_deployment, secretary=None)
    run = execute(run_id)
    assert waits_at(run, "assign-0"), run.state
    assert tags(run_id) == {"待交办"} and "请秘书确认" in description(run)
    props = description(run, "schema")["properties"]
    assert props["secretary"]["enum"] == ["王芳", "陈静"]  # only secretaries can sign
    assert "default" not in props["owner"] and props["leader"]["default"] == "周建国"

    # every secretary got her 待交办 request with her own code; the other's code is refused
    refused_form(
        run_id,
        sqlite_url,
        "assign-1",
        "不是发给陈静的",
        owner="刘洋",
        leader="周建国",
        secretary="陈静",
        code=code("王芳", "交办"),
    )
    resume(run_id, owner="刘洋", leader="周建国", secretary="陈静", code=code("陈静", "交办"))
    run = execute(run_id)
    assert waits_at(run, "submit-1-0"), run.state
    assert actions(sqlite_url)[-1] == ("assign", "陈静")
    assert code("刘洋", "销号申请") and code("周建国", "销号申请")  # each their own 交办 email


def test_without_a_named_secretary_the_assignment_waits_for_one(sqlite_ledger, item_deployment):
    """A run started without `secretary` (intake without an actor) never signs the assignment
    in some secretary's name: it waits for one, with the register's owner and leader prefilled."""
    ledger = sqlite_ledger
    run_id = start(item_deployment, secretary=None)
    run = execute(run_id)
    assert waits_at(run, "assign-0"), run.state
    assert status(ledger) is Status.new and actions(ledger) == []
    props = description(run, "schema")["properties"]
    assert props["owner"]["default"] == "刘洋" and props["owner"]["title"] == "责任人"
    assert props["leader"]["default"] == "周建国" and "default" not in props["secretary"]

    resume(run_id, owner="刘洋", leader="周建国", secretary="王芳", code=code("王芳", "交办"))
    run = execute(run_id)
    assert waits_at(run, "submit-1-0"), run.state
    assert actions(ledger) == [("assign", "王芳")]


def test_an_item_run_delivers_its_notices_but_not_the_sweeps_digests(sqlite_ledger, item_deployment):
    """A digest the sweep queued today is the sweep's to send (or not, on a later day): the
    item run that delivers its own assignment notice leaves it waiting."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from models.reminders import OutboxMail

    ledger = sqlite_ledger
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    with session_factory(ledger)() as s, s.begin():
        s.add(
            OutboxMail(
                key=f"sweep:{today}:刘洋",
                source="sweep",
                day=today,
                kind="digest",
                recipient_name="刘洋",
                recipient_email="p3@example.gov.cn",
                cc=[],
                subject="今日到期提醒",
                body_text="…",
                body_html="<p>…</p>",
            )
        )
    run = execute(start(item_deployment))
    assert waits_at(run, "submit-1-0"), run.state
    with session_factory(ledger)() as s:
        mails = dict(s.execute(select(OutboxMail.source, OutboxMail.status)).all())
    assert mails == {"notice": "sent", "sweep": "pending"}


def test_serve_looks_for_resumed_runs_every_few_seconds(monkeypatch):
    """A resumed run waits for `rectify serve`'s next look: 1 s unless told otherwise."""
    import typer

    from rectify.cli.flows import DEFAULT_POLL_SECONDS, poll_seconds

    monkeypatch.delenv("PREFECT_RUNNER_POLL_FREQUENCY", raising=False)
    assert poll_seconds(None) == DEFAULT_POLL_SECONDS == 1.0
    assert poll_seconds(5) == 5
    monkeypatch.setenv("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    assert poll_seconds(None) is None  # Prefect's own setting applies
    with pytest.raises(typer.Exit):
        poll_seconds(0)


def test_an_ongoing_item_s_run_waits_for_progress_reports(sqlite_url, settings_env, item_deployment):
    """长期坚持 from the register: the run sends the owner (and the leader) the 交办 with their
    进展报送 codes, as the command line does, and waits at the 进展报送 form (never at a 销号申请,
    which a 长期坚持 item cannot make). Each report is recorded as the period's progress note,
    the reporter gets the next code, and the run waits for the next report."""
    settings_env(sqlite_url, today=DAY.isoformat())
    with session_factory(sqlite_url)() as s, s.begin():
        people = add_people(s)
        add_item(s, CODE, Status.ongoing, owner=people["刘洋"], leader=people["周建国"], deadline=None)
    run_id = start(item_deployment)
    run = execute(run_id)
    assert waits_at(run, "progress-1-0"), run.state
    assert tags(run_id) == {"待报送进展"}
    sent = [str(m["To"]) for m in mails(get_settings().outbox_dir)]
    assert sorted(sent) == sorted(f"{n} <{EMAIL[n]}>" for n in ("刘洋", "周建国"))
    assert actions(sqlite_url) == []  # nothing moved: the item stays 长期坚持
    schema = description(run, "schema")
    assert {"note", "percent", "reporter", "code"} == set(schema["properties"])
    assert schema["properties"]["reporter"]["enum"] == ["刘洋", "周建国"]
    assert "长期坚持" in description(run)

    first = code("刘洋", "进展报送")
    before = dump(sqlite_url)
    resume(run_id, note="本月开展专题学习一次", reporter="刘洋", code=f"{(int(first) + 1) % 10**6:06d}")
    run = execute(run_id)
    assert waits_at(run, "progress-1-1") and "上次提交未被受理" in description(run)
    assert {k: v for k, v in dump(sqlite_url).items() if k != "action_codes"} == {
        k: v for k, v in before.items() if k != "action_codes"
    }

    resume(run_id, note="本月开展专题学习一次", percent=40, reporter="刘洋", code=first)
    run = execute(run_id)
    assert waits_at(run, "progress-2-0"), run.state
    assert actions(sqlite_url) == [("progress", "刘洋")]
    assert status(sqlite_url) is Status.ongoing
    assert code("刘洋", "进展报送") != first  # the next period's code, in a fresh email

"""回头看 (rectify.recheck): 复核日期 at approval, the secretaries' digest, confirm and reopen,
the counts for the report, and refusals that leave the whole database as it was; on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api_attack_helpers import unchanged_but_codes
from ledger_helpers import add_item, add_people, audit_rows, dump
from models import ActionCode, Item, Status
from rectify import decisions, item_process, recheck
from rectify.errors import Forbidden, InvalidInput, InvalidTransition
from rectify.digest_render import render_digest
from rectify.reminders import plan_reminders, record_reminders
from rectify.settings import Settings
from rectify.workdays import WorkCalendar

CAL = WorkCalendar(None)
SETTINGS = Settings(_env_file=None, reporting="off")
APPROVED = date(2026, 11, 25)


@pytest.fixture
def closed(session):
    """Two items submitted by 刘洋 and approved by 陈静 on 25 Nov: one with the default
    复核日期 (three months), one with 30 Nov chosen at approval."""
    p = add_people(session)
    for code in ("H-1", "H-2"):
        add_item(session, code, Status.submitted, owner=p["刘洋"], leader=p["周建国"], submitted_by=p["刘洋"])
    decisions.review_item(session, "H-1", p["陈静"], APPROVED, approve=True, comment="同意")
    decisions.review_item(
        session, "H-2", p["陈静"], APPROVED, approve=True, comment="同意", recheck_on=date(2026, 11, 30)
    )
    session.commit()
    return p


def test_approval_sets_the_recheck_date(session, closed):
    h1, h2 = (session.scalar(select(Item).where(Item.code == c)) for c in ("H-1", "H-2"))
    assert (h1.recheck_on, h2.recheck_on) == (date(2027, 2, 25), date(2026, 11, 30))
    approve = [a for a in audit_rows(session, h2) if a.action == "approve"][0]
    assert approve.details == {"recheck_on": "2026-11-30"}


def test_secretaries_digest_lists_due_rechecks_daily_until_done(session, closed):
    plan = plan_reminders(session, date(2026, 11, 27), CAL, SETTINGS)
    assert plan.digests == []  # not due yet
    plan = plan_reminders(session, date(2026, 11, 30), CAL, SETTINGS)
    got = {(d.name, line.code, line.rung) for d in plan.digests for line in d.lines}
    assert got == {("陈静", "H-2", "recheck_due"), ("王芳", "H-2", "recheck_due")}
    digest = plan.digests[0]
    render_digest(digest, SETTINGS)
    assert "回头看（复核到期）（1项）\n" in digest.text and "复核日期：2026年11月30日" in digest.text
    assert digest.subject.endswith("回头看到期1项")
    record_reminders(session, plan.day, plan, SETTINGS)
    session.commit()
    assert plan_reminders(session, date(2026, 11, 30), CAL, SETTINGS).digests == []  # once a day
    assert {
        line.code
        for d in plan_reminders(session, date(2026, 12, 1), CAL, SETTINGS).digests
        for line in d.lines
    } == {"H-2"}  # and again the next working day, until done

    recheck.confirm(session, "H-2", closed["王芳"], date(2026, 12, 1), comment="制度执行良好")
    session.commit()
    # (December: the secretaries' digests now carry only the once-only calendar notice)
    assert [
        line for d in plan_reminders(session, date(2026, 12, 1), CAL, SETTINGS).digests for line in d.lines
    ] == []
    h2 = session.scalar(select(Item).where(Item.code == "H-2"))
    assert (h2.status, h2.recheck_on) == (Status.closed, None)
    last = audit_rows(session, h2)[-1]
    assert (last.action, last.actor, last.comment, last.details) == (
        "recheck",
        "王芳",
        "制度执行良好",
        {"result": "confirmed", "recheck_on": "2026-11-30"},
    )


def test_reopen_after_recheck_and_the_counts(session, closed):
    assert recheck.recheck_counts(session, date(2026, 11, 30)) == {
        "done": 0,
        "confirmed": 0,
        "reopened": 0,
        "due": 1,
    }
    recheck.confirm(session, "H-2", closed["陈静"], date(2026, 11, 30))
    recheck.reopen(session, "H-1", closed["陈静"], date(2026, 12, 2), reason="记录仍不规范，问题反弹")
    session.commit()
    h1 = session.scalar(select(Item).where(Item.code == "H-1"))
    assert (h1.status, h1.recheck_on, h1.closed_on) == (Status.in_progress, None, None)
    assert audit_rows(session, h1)[-1].action == "reopen"
    assert recheck.recheck_counts(session, date(2026, 12, 1)) == {
        "done": 1,
        "confirmed": 1,
        "reopened": 0,
        "due": 0,
    }
    assert recheck.recheck_counts(session, date(2026, 12, 2)) == {
        "done": 2,
        "confirmed": 1,
        "reopened": 1,
        "due": 0,
    }
    assert recheck.due_items(session, date(2027, 12, 31)) == []


@pytest.mark.parametrize("case", ["owner", "not_closed", "empty_reason", "backdated"])
def test_refused_rechecks_change_nothing(db_url, session, closed, case):
    if case == "not_closed":
        add_item(session, "H-3", Status.in_progress, owner=closed["刘洋"], leader=closed["周建国"])
        session.commit()
    before = dump(db_url)
    with pytest.raises((Forbidden, InvalidTransition, InvalidInput)) as exc:
        if case == "owner":
            recheck.confirm(session, "H-2", closed["刘洋"], date(2026, 11, 30))
        elif case == "not_closed":
            recheck.confirm(session, "H-3", closed["陈静"], date(2026, 11, 30))
        elif case == "empty_reason":
            recheck.reopen(session, "H-2", closed["陈静"], date(2026, 11, 30), reason="  ")
        else:
            recheck.confirm(session, "H-2", closed["陈静"], date(2026, 11, 20))
    session.rollback()
    assert dump(db_url) == before
    assert str(exc.value)  # one Chinese line
    assert {"owner": "无权", "not_closed": "只有已销号", "empty_reason": "不能为空", "backdated": "不能倒填"}[
        case
    ] in str(exc.value)


def test_review_form_path_takes_the_recheck_date(db_url, session):
    """The secretary's ClosureReview form (rectify.waits: its `recheck_on` field), proven by her
    emailed code: a 复核日期 not after the day is refused and changes nothing."""
    from rectify import codes

    p = add_people(session)
    add_item(session, "H-9", Status.submitted, owner=p["刘洋"], leader=p["周建国"], submitted_by=p["刘洋"])
    session.commit()
    with session.begin():
        code = codes.reveal_one(
            session, codes.issue(session, p["陈静"], session.scalars(select(Item)).one(), "review")
        )
    before = dump(db_url)

    def form(recheck_on):
        return {
            "decision": item_process.APPROVE,
            "comment": "",
            "reviewer": "陈静",
            "recheck_on": recheck_on,
            "code": code,
        }

    refusal = item_process.apply_form(
        db_url, "H-9", APPROVED, "review", form(APPROVED.isoformat()), "run:review-1-0"
    )
    # the right code went with a refused form (readable in the stored input): replaced
    assert refusal == (
        "复核日期 2026-11-25 应晚于销号日期 2026-11-25；本次使用的验证码已作废，新的验证码已发送到陈静的邮箱"
    )
    unchanged_but_codes(before, dump(db_url))
    assert (
        item_process.apply_form(db_url, "H-9", APPROVED, "review", form("2026-12-25"), "run:review-1-1")
        is not None
    )  # the voided code proves nothing
    with session.begin():
        fresh = session.scalars(
            select(ActionCode).where(
                ActionCode.step == "review", ActionCode.used_at.is_(None), ActionCode.voided_at.is_(None)
            )
        ).one()
        code = codes.reveal_one(session, codes.token(fresh.id))
    assert (
        item_process.apply_form(db_url, "H-9", APPROVED, "review", form("2026-12-25"), "run:review-1-2")
        is None
    )
    session.expire_all()
    assert session.scalar(select(Item.recheck_on).where(Item.code == "H-9")) == date(2026, 12, 25)


def test_cli_recheck_and_review_refusals(db_url, session, settings_env, monkeypatch, tmp_path):
    from rectify.cli import app

    p = add_people(session)
    add_item(session, "H-5", Status.submitted, owner=p["刘洋"], leader=p["周建国"], submitted_by=p["刘洋"])
    session.commit()
    monkeypatch.chdir(tmp_path)
    settings_env(db_url, today="2026-11-30", user="陈静")
    runner = CliRunner()
    before = dump(db_url)
    for args in (
        ["review", "H-5", "--approve", "--recheck-on", "2026-11-01", "--today", "2026-11-25"],
        ["review", "H-5", "--reject", "--comment", "x", "--recheck-on", "2027-01-01"],
        ["review", "H-5", "--approve", "--recheck-on", "明年"],
        ["recheck", "H-5", "--confirm"],
        ["recheck", "H-5", "--confirm", "--reopen"],
        ["recheck", "H-5", "--reopen"],
    ):
        out = runner.invoke(app, args)
        assert out.exit_code != 0 and "Traceback" not in out.output, args
        assert [ln for ln in out.output.splitlines() if ln.startswith("错误：")], out.output
        assert dump(db_url) == before, args
    out = runner.invoke(
        app, ["review", "H-5", "--approve", "--recheck-on", "2027-01-04", "--today", "2026-11-25"]
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["show", "H-5"])
    assert "复核日期（回头看）：2027-01-04" in out.output
    out = runner.invoke(app, ["recheck", "H-5", "--confirm", "--comment", "巩固", "--as", "王芳"])
    assert out.exit_code == 0 and "整改成效巩固" in out.output, out.output
    assert "回头看（整改巩固）" in runner.invoke(app, ["show", "H-5"]).output

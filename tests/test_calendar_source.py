"""Each year's calendar source (package, override, estimate, fallback), the shipped 2027 file
marked as an estimate, and the secretaries told once in December when next year has no
confirmed data; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from ledger_helpers import add_people
from models import OutboxMail
from rectify.digest_render import render_digest
from rectify.reminders import plan_reminders, record_reminders
from rectify.settings import Settings
from rectify.workdays import WorkCalendar

SHIPPED_2027 = Path(__file__).resolve().parent.parent / "rectify" / "data" / "calendar-2027.example.json"
SETTINGS = Settings(_env_file=None, reporting="off")


def test_sources_and_the_estimate_said_once(tmp_path, caplog):
    assert [WorkCalendar(None).source(y) for y in (2025, 2026, 2027)] == ["package", "package", "fallback"]
    estimated = WorkCalendar(SHIPPED_2027)
    assert estimated.source(2027) == "estimate" and estimated.estimated_years == {2027}
    with caplog.at_level(logging.WARNING, logger="rectify.calendar"):
        estimated.is_workday(date(2027, 2, 8))
        estimated.add_workdays(date(2027, 3, 1), 30)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "估算" in said[0] and "并非国务院办公厅正式通知" in said[0]
    confirmed = tmp_path / "2027.json"
    doc = json.loads(SHIPPED_2027.read_text(encoding="utf-8"))
    del doc["_estimate"]
    confirmed.write_text(json.dumps(doc), encoding="utf-8")
    assert WorkCalendar(confirmed).source(2027) == "override"


def _calendar_digests(plan):
    return [d for d in plan.digests if "calendar" in d.sections]


def test_december_sweep_tells_the_secretaries_once(session, tmp_path):
    add_people(session)  # two secretaries: 陈静, 王芳
    session.commit()
    cal = WorkCalendar(None)
    assert _calendar_digests(plan_reminders(session, date(2026, 11, 30), cal, SETTINGS)) == []
    plan = plan_reminders(session, date(2026, 12, 1), cal, SETTINGS)
    told = _calendar_digests(plan)
    assert sorted(d.name for d in told) == ["王芳", "陈静"]
    render_digest(told[0], SETTINGS)
    assert "2027年尚无确认的法定节假日与调休数据" in told[0].text and "本提醒只发送一次" in told[0].text
    assert told[0].subject.endswith("2027年日历待确认")
    record_reminders(session, plan.day, plan, SETTINGS)
    session.commit()
    assert session.scalars(select(OutboxMail.sections)).all() == ["calendar", "calendar"]
    assert _calendar_digests(plan_reminders(session, date(2026, 12, 2), cal, SETTINGS)) == []
    assert _calendar_digests(plan_reminders(session, date(2026, 12, 31), cal, SETTINGS)) == []
    # the shipped estimate is not confirmed data either; a confirmed override file is
    estimate = plan_reminders(session, date(2026, 12, 1), WorkCalendar(SHIPPED_2027), SETTINGS)
    assert estimate.digests == []  # already told this December
    confirmed = tmp_path / "2027.json"
    confirmed.write_text(json.dumps({"2027": {"holidays": ["2027-01-01"]}}), encoding="utf-8")
    session.execute(OutboxMail.__table__.delete())
    session.commit()
    assert (
        _calendar_digests(plan_reminders(session, date(2026, 12, 1), WorkCalendar(confirmed), SETTINGS)) == []
    )
    assert (
        len(
            _calendar_digests(
                plan_reminders(session, date(2026, 12, 1), WorkCalendar(SHIPPED_2027), SETTINGS)
            )
        )
        == 2
    )


def test_calendar_command(sqlite_url, settings_env, monkeypatch, tmp_path):
    from rectify.cli import app

    monkeypatch.chdir(tmp_path)
    settings_env(sqlite_url, today="2026-12-02", calendar_override=str(SHIPPED_2027))
    out = CliRunner().invoke(app, ["calendar", "--from", "2025", "--to", "2028"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[1].startswith("2025") and "chinesecalendar" in lines[1]
    assert lines[3].startswith("2027") and "估算" in lines[3]
    assert lines[4].startswith("2028") and "周一至周五" in lines[4]
    assert "2027、2028年没有国务院办公厅正式通知的数据" in out.stdout
    bad = CliRunner().invoke(app, ["calendar", "--from", "2030", "--to", "2029"])
    assert bad.exit_code != 0 and "错误：" in bad.output

"""Stale sweep digests are never replayed (DOMAIN.md: "a missed day is not replayed as a burst
of old notices", one sweep email per person per day), while event notices keep being retried;
event-driven deliveries (item runs, CLI commands) send notices only. Real aiosmtpd servers."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta

from sqlalchemy import select, update
from typer.testing import CliRunner

from models import Item, OutboxMail, Person
from models.db import session_factory
from rectify.delivery import NOTICES, deliver_pending
from rectify.outbox import queue_notice
from rectify.reminders import plan_reminders, record_reminders
from smtp_servers import RecordingHandler, ScriptedHandler, plain_server
from delivery_helpers import DAY, FAST, config, delivered_to, sweep_ledger, time_passes
from reminder_helpers import CAL, SETTINGS

NEXT = date(2026, 12, 1)  # the next working day after DAY (Mon 30 Nov 2026)
FRIDAY, SATURDAY = date(2026, 11, 27), date(2026, 11, 28)


def with_notice(maker, day: date) -> None:
    """An 交办 notice to 刘洋, queued on `day` beside the sweep's digests."""
    with maker.begin() as s:
        owner = s.scalars(select(Person).where(Person.name == "刘洋")).one()
        first = s.scalars(select(Item).order_by(Item.id)).first()
        queue_notice(s, kind="assigned", to=owner, items=[first], day=day, key="assigned:test")


def rows(maker) -> list[tuple[str, str, str]]:
    with maker() as s:
        return sorted((m.source, m.day.isoformat(), m.status) for m in s.scalars(select(OutboxMail)))


def test_after_an_outage_old_digests_expire_and_notices_are_still_sent(db_url):
    maker = session_factory(db_url)
    sweep_ledger(maker, n_owners=2)  # 30 Nov: two owners' digests and the leader's
    with_notice(maker, DAY)
    with plain_server(ScriptedHandler(rcpt=itertools.repeat("451 4.3.0 later"))) as down:
        first = deliver_pending(maker, config(down), day=DAY, report_failures=False, **FAST)
    assert first.retry == 4 and first.sent == 0
    time_passes(maker)
    with maker.begin() as s:  # the server is back; 1 Dec's sweep records its own digests
        # (three, and the secretary's once-only December notice that 2027 has no calendar data)
        assert record_reminders(s, NEXT, plan_reminders(s, NEXT, CAL, SETTINGS), SETTINGS).mails == 4
    handler = RecordingHandler()
    with plain_server(handler) as up:
        report = deliver_pending(maker, config(up), day=NEXT, **FAST)
        assert deliver_pending(maker, config(up), day=NEXT, **FAST).attempted == 0
    assert (report.expired, report.sent) == (3, 5)  # today's four digests and the notice
    # one sweep email per person on 1 Dec: yesterday's digests were not replayed
    sweep_rcpts = delivered_to(handler)
    assert sweep_rcpts.count("o0@example.gov.cn") == 1 and sweep_rcpts.count("p1@example.gov.cn") == 1
    assert (
        rows(maker)
        == [("notice", "2026-11-30", "sent")]
        + [("sweep", "2026-11-30", "expired")] * 3
        + [("sweep", "2026-12-01", "sent")] * 4
    )
    with maker() as s:
        stale = s.scalars(select(OutboxMail).where(OutboxMail.status == "expired")).all()
        assert all("451" in m.last_error and "不再补发" in m.last_error for m in stale)
        assert all(m.attempts == 2 and m.sent_at is None for m in stale)


def test_a_dead_sweeps_claim_from_yesterday_becomes_unknown_after_its_lease(db_url):
    maker = session_factory(db_url)
    sweep_ledger(maker, n_owners=1)
    with maker.begin() as s:  # claimed on 30 Nov by a sweep that was killed
        s.execute(
            update(OutboxMail).values(status="sending", claimed_by="dead", claimed_at=OutboxMail.created_at)
        )
    handler = RecordingHandler()
    with plain_server(handler) as server:
        report = deliver_pending(maker, config(server), day=NEXT, lease=timedelta(0), **FAST)
    # it may have reached the server before the process died: unknown, reported, not resent
    assert (report.expired, report.interrupted) == (0, 2)
    assert report.attempted == 1 and report.notices == 1
    assert delivered_to(handler) == ["p0@example.gov.cn"]  # only the secretary's notice
    assert rows(maker) == [("notice", "2026-12-01", "sent")] + [("sweep", "2026-11-30", "unknown")] * 2


def test_notice_only_delivery_on_a_saturday_leaves_fridays_digests_alone(db_url):
    maker = session_factory(db_url)
    with maker.begin() as s:
        from reminder_helpers import item, people

        p = people(s)
        item(s, "S-1", p["刘洋"], p["周建国"], date(2026, 11, 20))
        record_reminders(s, FRIDAY, plan_reminders(s, FRIDAY, CAL, SETTINGS), SETTINGS)
    with_notice(maker, SATURDAY)  # a UI submission on Saturday queues a notice
    handler = RecordingHandler()
    with plain_server(handler) as server:
        report = deliver_pending(maker, config(server), day=SATURDAY, sources=NOTICES, **FAST)
    assert (report.sent, report.attempted, report.expired) == (1, 1, 0)
    assert delivered_to(handler) == ["p3@example.gov.cn"]
    assert rows(maker) == [
        ("notice", "2026-11-28", "sent"),
        ("sweep", "2026-11-27", "pending"),
        ("sweep", "2026-11-27", "pending"),
    ]
    with plain_server(handler) as server:  # Monday's sweep: Friday's digests are not replayed
        monday = deliver_pending(maker, config(server), day=DAY, **FAST)
    assert (monday.expired, monday.attempted) == (2, 0)


def test_cli_commands_deliver_only_notices_and_outbox_shows_expired(sqlite_url, settings_env, tmp_path):
    from rectify.cli import app

    settings_env(sqlite_url)
    maker = session_factory(sqlite_url)
    with maker.begin() as s:
        from reminder_helpers import item, people

        p = people(s)
        item(s, "C-1", p["刘洋"], p["周建国"], date(2026, 11, 20))
        record_reminders(s, DAY, plan_reminders(s, DAY, CAL, SETTINGS), SETTINGS)
    with_notice(maker, DAY)  # e.g. an 交办 whose delivery was interrupted
    runner = CliRunner()
    out = runner.invoke(
        app, ["progress", "C-1", "--note", "已完成初稿", "--as", "刘洋", "--today", DAY.isoformat()]
    )
    assert out.exit_code == 0, out.output
    assert "已发送通知邮件1封" in out.output  # the notice, not the sweep's digests
    assert [f.name.endswith("-assigned.eml") for f in (tmp_path / "outbox").iterdir()] == [True]
    assert rows(maker) == [
        ("notice", "2026-11-30", "sent"),
        ("sweep", "2026-11-30", "pending"),
        ("sweep", "2026-11-30", "pending"),
    ]
    deliver_pending(maker, config_for_files(tmp_path), day=NEXT)  # 1 Dec: the digests expired
    out = runner.invoke(app, ["outbox"])
    assert out.exit_code == 0 and "过期未发" in out.output and "过期未发2封" in out.output
    listed = json.loads(runner.invoke(app, ["outbox", "--json"]).output)
    assert {(r["kind"], r["status_label"]) for r in listed} == {
        ("assigned", "已发送"),
        ("overdue_owner", "过期未发"),
        ("overdue_leader", "过期未发"),
    }


def config_for_files(tmp_path):
    from notifications.smtp import MailConfig

    return MailConfig(outbox_dir=tmp_path / "outbox")

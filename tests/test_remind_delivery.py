"""Delivering the outbox (rectify.delivery) to real aiosmtpd servers: outcomes, retries across
sweeps, failure reports, an interrupted sweep and two concurrent sweeps."""

from __future__ import annotations

import email
import email.policy
import itertools
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from models import OutboxMail
from models.db import session_factory
from rectify import outbox_claims
from rectify.delivery import deliver_pending
from rectify.outbox_claims import claim_pending
from rectify.reminders import plan_reminders, record_reminders
from smtp_servers import DROP, RecordingHandler, ScriptedHandler, Stall, plain_server
from reminder_helpers import CAL, SETTINGS, item
from delivery_helpers import DAY, FAST, config, delivered_to, sweep_ledger, time_passes


def statuses(maker) -> dict[str, str]:
    with maker() as s:
        return {m.recipient_name: m.status for m in s.scalars(select(OutboxMail))}


def test_sweep_delivers_each_reminder_once_and_rerun_sends_nothing(db_url):
    maker = session_factory(db_url)
    sweep_ledger(maker)
    handler = RecordingHandler()
    with plain_server(handler) as server:
        report = deliver_pending(maker, config(server), day=DAY, **FAST)
        assert (report.sent, report.attempted) == (4, 4)
        again = deliver_pending(maker, config(server), day=DAY, **FAST)
        with maker.begin() as s:  # a re-run of the day's sweep records nothing either
            assert record_reminders(s, DAY, plan_reminders(s, DAY, CAL, SETTINGS), SETTINGS).mails == 0
        assert deliver_pending(maker, config(server), day=DAY, **FAST).attempted == 0
    assert again.attempted == 0
    assert delivered_to(handler) == [
        "o0@example.gov.cn",
        "o1@example.gov.cn",
        "o2@example.gov.cn",
        "p1@example.gov.cn",
    ]
    assert len(handler.peers) == 1  # one reused connection for the batch
    msg = email.message_from_bytes(handler.messages[0].content, policy=email.policy.default)
    assert msg["Subject"].startswith("【整改")
    with maker() as s:
        rows = s.scalars(select(OutboxMail)).all()
        assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
        assert all(r.message_id for r in rows)
        assert msg["Message-ID"] in {r.message_id for r in rows}


@pytest.mark.parametrize(
    "script, expected",
    [
        (dict(mail=["421 4.3.2 busy"]), "sent"),  # retried within the sweep
        (dict(rcpt=itertools.repeat("451 4.3.0 try later")), "retry"),
        (dict(rcpt=["550 5.1.1 no such user"]), "failed"),
        (dict(data=["554 5.7.1 rejected"]), "failed"),
        (dict(data=[DROP]), "unknown"),  # connection lost after the data
        (dict(mail=[Stall()] * 4), "retry"),  # stalls past the timeout before DATA
    ],
)
def test_outcomes_are_recorded(sqlite_url, script, expected):
    maker = session_factory(sqlite_url)
    sweep_ledger(maker, n_owners=0)  # people only; one item due tomorrow, no leader
    with maker.begin() as s:
        from models import Person

        owner = s.scalars(select(Person).where(Person.name == "刘洋")).one()
        item(s, "S-1", owner, None, date(2026, 12, 1))
        record_reminders(s, DAY, plan_reminders(s, DAY, CAL, SETTINGS), SETTINGS)
    handler = ScriptedHandler(**script)
    with plain_server(handler) as server:
        report = deliver_pending(maker, config(server), day=DAY, **FAST)
    rows = statuses(maker)
    assert rows["刘洋"] == expected
    if expected in ("failed", "unknown"):
        # reported to the secretary in a delivery_failed notice, which was delivered too
        assert report.notices == 1 and rows["陈静"] == "sent"
        with maker() as s:
            notice = s.scalars(select(OutboxMail).where(OutboxMail.kind == "delivery_failed")).one()
            assert "刘洋" in notice.body_text
    else:
        assert report.notices == 0


def test_transient_failure_is_retried_by_the_next_sweep(sqlite_url):
    maker = session_factory(sqlite_url)
    sweep_ledger(maker, n_owners=2)
    handler = ScriptedHandler(rcpt=["451 4.3.0 later"] * 4)  # two attempts for each of two mails
    with plain_server(handler) as server:
        first = deliver_pending(maker, config(server), day=DAY, **FAST)
        assert first.retry == 2 and first.sent == 1
        assert deliver_pending(maker, config(server), day=DAY, **FAST).attempted == 0  # not yet due
        time_passes(maker, timedelta(minutes=2))
        second = deliver_pending(maker, config(server), day=DAY, **FAST)
    assert (second.sent, second.attempted) == (2, 2)
    assert set(statuses(maker).values()) == {"sent"}
    assert len(delivered_to(handler)) == 3
    with maker() as s:
        assert sorted(m.attempts for m in s.scalars(select(OutboxMail))) == [1, 3, 3]


def test_retry_gives_up_after_max_total_attempts(sqlite_url, monkeypatch):
    monkeypatch.setattr(outbox_claims, "MAX_TOTAL_ATTEMPTS", 4)  # where final_status reads it
    maker = session_factory(sqlite_url)
    sweep_ledger(maker, n_owners=1)
    with plain_server(ScriptedHandler(rcpt=itertools.repeat("451 4.3.0 later"))) as server:
        deliver_pending(maker, config(server), day=DAY, report_failures=False, **FAST)
        assert set(statuses(maker).values()) == {"retry"}
        time_passes(maker, timedelta(minutes=2))
        deliver_pending(maker, config(server), day=DAY, report_failures=False, **FAST)
    with maker() as s:
        rows = s.scalars(select(OutboxMail)).all()
        assert {(r.status, r.attempts) for r in rows} == {("failed", 4)}
        assert "不再自动重发" in rows[0].last_error


def test_sweep_interrupted_between_claim_and_send(db_url):
    """A sweep claims and dies; the next one waits for the lease, then delivers exactly once."""
    maker = session_factory(db_url)
    sweep_ledger(maker, n_owners=2)
    with maker.begin() as s:
        claimed = claim_pending(s, "dead-worker", limit=10)
    assert len(claimed) == 3  # ... and the process is killed here
    handler = RecordingHandler()
    with plain_server(handler) as server:
        within_lease = deliver_pending(maker, config(server), day=DAY, **FAST)
        assert within_lease.attempted == 0 and handler.messages == []
        with maker.begin() as s:  # 20 minutes later: the lease has expired
            s.execute(update(OutboxMail).values(claimed_at=OutboxMail.claimed_at - timedelta(minutes=20)))
        after = deliver_pending(maker, config(server), day=DAY, **FAST)
        assert deliver_pending(maker, config(server), day=DAY, **FAST).attempted == 0
    assert after.sent == 3 and len(handler.messages) == 3
    assert set(statuses(maker).values()) == {"sent"}


def test_a_claim_takes_at_most_its_limit(db_url):
    """The ids are locked first, then exactly those are updated: `UPDATE … WHERE id IN (SELECT …
    LIMIT n FOR UPDATE SKIP LOCKED)` took all 61 rows for n=7 on PostgreSQL once the bodies
    carried codes (the sub-select was re-run per row and skipped the rows just updated)."""
    maker = session_factory(db_url)
    sweep_ledger(maker, n_owners=60)
    with maker.begin() as s:
        assert len(claim_pending(s, "w1", limit=7)) == 7
    with maker.begin() as s:
        assert len(claim_pending(s, "w2", limit=7)) == 7
    with maker() as s:
        assert (
            s.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.status == "sending")) == 14
        )


@pytest.mark.postgres
def test_two_concurrent_sweeps_deliver_every_reminder_exactly_once(request):
    url = request.getfixturevalue("pg_migrated")
    from conftest import _truncate_pg

    _truncate_pg(url)
    maker = session_factory(url)
    sweep_ledger(maker, n_owners=60)
    handler = RecordingHandler()
    reports = []
    with plain_server(handler) as server:
        barrier = threading.Barrier(2)

        def sweep():
            barrier.wait()
            reports.append(deliver_pending(maker, config(server), day=DAY, chunk=7, **FAST))

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    rcpts = delivered_to(handler)
    assert len(rcpts) == 61 and len(set(rcpts)) == 61
    assert sum(r.sent for r in reports) == 61
    assert all(r.sent > 0 for r in reports), "both sweeps took part"
    assert set(statuses(maker).values()) == {"sent"}


def test_header_injection_in_a_name_fails_that_email_only(sqlite_url):
    maker = session_factory(sqlite_url)
    sweep_ledger(maker, n_owners=1)
    with maker.begin() as s:
        s.execute(
            update(OutboxMail)
            .where(OutboxMail.recipient_name == "责任人0")
            .values(recipient_name="张三\r\nBcc: x@evil.example")
        )
    handler = RecordingHandler()
    with plain_server(handler) as server:
        report = deliver_pending(maker, config(server), day=DAY, **FAST)
    assert (report.failed, report.sent) == (1, 2)  # the leader's digest and the notice
    assert "x@evil.example" not in delivered_to(handler)
    for m in handler.messages:
        head = m.content.split(b"\r\n\r\n")[0]
        assert b"\nBcc:" not in head and b"evil" not in head
    with maker() as s:
        bad = s.scalars(select(OutboxMail).where(OutboxMail.status == "failed")).one()
        assert "控制字符" in bad.last_error and bad.attempts == 0

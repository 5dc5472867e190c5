"""Delivery against a misbehaving mail server (tests/fault_smtp.py): after every scenario the
server's log of accepted Message-IDs is compared with the outbox (zero lost, zero twice)."""

from __future__ import annotations

import itertools
import logging
import threading
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from fault_smtp import FaultHandler, assert_kept, fault_server
from models import OutboxMail, Person, Role
from models.base import utcnow
from models.db import session_factory
from rectify.delivery import NOTICES, deliver_pending
from rectify import outbox_claims
from rectify.outbox import queue_notice
from smtp_servers import Authenticator, make_self_signed_cert, server_tls_context
from delivery_helpers import DAY, FAST, config, sweep_ledger, time_passes


def statuses(maker) -> list[tuple[str, int]]:
    with maker() as s:
        return sorted((m.status, m.attempts) for m in s.scalars(select(OutboxMail)))


def test_a_connection_limit_per_client_still_delivers_everything(db_url):
    """Case 2: 421 to every connection beyond the first from the same client."""
    maker = session_factory(db_url)
    sweep_ledger(maker, n_owners=26)  # 26 owners' digests and the leader's: 27
    handler = FaultHandler(per_client=1)
    with fault_server(handler) as server:
        report = deliver_pending(maker, config(server, connections=3), day=DAY, **FAST)
    assert handler.refused >= 1  # the limit did bite
    assert (report.sent, report.retry, report.failed) == (27, 0, 0)
    assert statuses(maker) == [("sent", 1)] * 27
    assert assert_kept(maker, handler).accepted == 27


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_self_signed_cert(tmp_path_factory.mktemp("cert"))


LOGIN = {"security": "starttls", "username": "rectify", "password": SecretStr("right-password")}
REFUSALS = {
    "greeting": (dict(greeting=itertools.repeat("554 5.7.1 您的地址已被列入黑名单")), LOGIN, "554"),
    "starttls": (dict(starttls=itertools.repeat("454 4.7.0 TLS not available")), LOGIN, "454"),
    "login": ({}, {**LOGIN, "password": SecretStr("wrong-password")}, "535"),
    "no login": ({}, {"security": "starttls"}, "530"),  # the server wants a login we lack
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refusal_by_the_server_fails_no_message_and_is_told_once(sqlite_url, cert, case, caplog):
    """Case 3: refused greeting / STARTTLS / login: retried, never failed, told once."""
    script, over, code = REFUSALS[case]
    maker = session_factory(sqlite_url)
    sweep_ledger(maker, n_owners=3)
    handler = FaultHandler(**script)
    tls = dict(
        tls_context=server_tls_context(*cert),
        require_starttls=True,
        auth_required=True,
        authenticator=Authenticator({"rectify": "right-password"}),
    )
    caplog.set_level(logging.WARNING)
    with fault_server(handler, **tls) as server:
        cfg = config(server, connections=2, ca_file=cert[0], **over)
        first = deliver_pending(maker, cfg, day=DAY, **FAST)
        assert (first.sent, first.failed, first.retry) == (0, 0, 4)
        assert code in first.refusal
        assert caplog.text.count("邮件服务器拒绝连接或登录") == 1  # once, not once per message
        assert statuses(maker) == [("retry", 0)] * 4  # no attempt charged to a message
        with maker() as s:
            assert all(code in m.last_error for m in s.scalars(select(OutboxMail)))
        # the server is fixed (greeting, STARTTLS) or the password (login): all go out
        handler.scripts = {name: iter(()) for name in handler.scripts}
        cfg.username, cfg.password = LOGIN["username"], LOGIN["password"]
        time_passes(maker, timedelta(minutes=5))
        second = deliver_pending(maker, cfg, day=DAY, **FAST)
    assert second.sent == 4 and second.refusal is None
    assert statuses(maker) == [("sent", 1)] * 4
    assert assert_kept(maker, handler).accepted == 4


def test_a_short_outage_is_spaced_in_time_not_counted_per_command(sqlite_url):
    """Case 4: thirty commands during an outage; no notice burns its attempts."""
    maker = session_factory(sqlite_url)
    sweep_ledger(maker, n_owners=0)
    with maker.begin() as s:
        owner = s.scalars(select(Person).where(Person.role == Role.owner)).first()
        for i in range(30):
            queue_notice(s, kind="assigned", to=owner, day=DAY, key=f"assigned:{i}")
    handler = FaultHandler(greeting=itertools.repeat("421 4.3.2 系统维护中"))
    with fault_server(handler) as server:
        for _ in range(30):  # thirty `rectify assign` within a minute
            deliver_pending(maker, config(server), day=DAY, report_failures=False, sources=NOTICES, **FAST)
        assert statuses(maker) == [("retry", 0)] * 30
        assert handler.connections <= FAST["max_attempts"]  # the first command tried; the rest waited
        with maker() as s:
            waits = {m.next_attempt_at for m in s.scalars(select(OutboxMail))}
            assert None not in waits
        handler.scripts["greeting"] = iter(())  # the server is back
        time_passes(maker, outbox_claims.retry_delay(1))
        report = deliver_pending(maker, config(server), day=DAY, sources=NOTICES, **FAST)
    assert report.sent == 30 and statuses(maker) == [("sent", 1)] * 30
    assert_kept(maker, handler)


def test_retry_delay_doubles_up_to_an_hour():
    assert [outbox_claims.retry_delay(n).total_seconds() / 60 for n in range(0, 10)] == [
        1,
        1,
        2,
        4,
        8,
        16,
        32,
        60,
        60,
        60,
    ]


def test_outcomes_are_committed_while_the_server_is_slow(db_url):
    """Case 5: two messages accepted, the third's reply withheld: the two are recorded now,
    not when the next result arrives."""
    maker = session_factory(db_url)
    sweep_ledger(maker, n_owners=3)
    hold = threading.Event()
    hold.set()

    def third(handler, message):
        if len(handler.received) == 3:
            hold.clear()

    handler = FaultHandler(hold=hold, on_received=third)
    with fault_server(handler) as server:
        sender = threading.Thread(
            target=deliver_pending, args=(maker, config(server, timeout=60)), kwargs=dict(day=DAY, **FAST)
        )
        sender.start()
        try:
            handler.wait_for(lambda: len(handler.accepted) == 2 and len(handler.received) == 3)

            def recorded() -> int:
                with maker() as s:
                    return len(s.scalars(select(OutboxMail).where(OutboxMail.status == "sent")).all())

            handler.wait_for(lambda: recorded() == 2, timeout=10)
            assert not hold.is_set() and sender.is_alive()  # still waiting for the third reply
        finally:
            hold.set()
            sender.join(60)
    assert assert_kept(maker, handler).accepted == 4


def test_a_chunk_that_outlives_its_lease_is_sent_once(db_url):
    """Case 6: a slow chunk keeps its lease; a second sweep started after the lease length
    sends nothing twice; a row taken away mid-chunk is not sent by the first."""
    maker = session_factory(db_url)
    sweep_ledger(maker, n_owners=7)  # 8 digests
    lease = timedelta(seconds=1.2)
    with maker() as s:
        last = max(m.id for m in s.scalars(select(OutboxMail)))

    def steal(handler, message):
        if len(handler.accepted) == 3:  # another worker takes the last row over
            with maker.begin() as s:
                s.execute(
                    update(OutboxMail)
                    .where(OutboxMail.id == last)
                    .values(
                        claimed_by="someone-else",  # and keeps renewing it
                        claimed_at=utcnow() + timedelta(hours=1),
                    )
                )

    handler = FaultHandler(pace=0.4, on_replied=steal)
    reports = []
    with fault_server(handler) as server:
        first = threading.Thread(
            target=lambda: reports.append(
                deliver_pending(maker, config(server), day=DAY, lease=lease, report_failures=False, **FAST)
            )
        )
        first.start()
        handler.wait_for(lambda: len(handler.accepted) >= 4)  # 1.6 s in: past the lease
        reports.append(
            deliver_pending(maker, config(server), day=DAY, lease=lease, report_failures=False, **FAST)
        )
        first.join(60)
    audit = assert_kept(maker, handler)
    assert audit.accepted == 7  # all but the stolen row
    assert reports[0].attempted == 0  # the second sweep found everything still leased
    assert reports[1].sent == 7 and reports[1].lost_lease == 1
    with maker() as s:
        assert s.get(OutboxMail, last).claimed_by == "someone-else"

"""Deliver the outbox: claim a chunk, send it over one batch of SMTP connections, record each
outcome, repeat. No Prefect here; tasks/reminders.py wraps it with retries and artifacts.

Order of events for every email, each step committed before the next:
    recorded (pending) -> claimed (sending, lease) -> sent to the server -> marked

* killed before claiming: the row is pending, the next sweep sends it;
* killed between claiming and sending: the row stays "sending" until its lease expires, then
  a sweep of the same day claims and sends it, once (a later day's sweep marks it unknown);
* killed between the server's reply and the mark: a sweep of the same day after the lease
  sends it again, with the same Message-ID (so mail clients can fold the duplicate). This
  window is bounded: an outcome is committed at most TICK (0.2 s) plus one commit after the
  server's reply, however slow the server is, because the marker is ticked on a timer and
  not only when the next result arrives.

The lease is renewed every quarter of its length while a chunk is in flight, and before each
message the sender checks that the row is still its own and that its last renewal is less
than half a lease old; otherwise it leaves the row to whoever holds it now. So a chunk that
outlives its lease is never sent by two processes.

Delivery outcomes and the unknown-outcome policy are notifications/outcomes.py's (the SMTP conversation is notifications/smtp.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import parseaddr
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.reminders import OUTBOX_STATUS_LABELS, OutboxMail
from rectify import codes, links
from rectify.outbox_claims import (
    DEFAULT_LEASE,
    claim_pending,
    count_claimable,
    expire_stale_digests,
    final_status,
    mark_results,
    new_worker_id,
    queue_failure_notices,
    renew_lease,
)

log = logging.getLogger("rectify.delivery")

# What event-driven deliveries (the item flow, CLI commands) send: their own notices only. The
# sweep's digests belong to the sweep's day; sent by an item run on a Saturday or a day later
# they would be a second, stale email of the day.
NOTICES = ("notice",)


@dataclass
class DeliveryReport:
    worker: str
    sent: int = 0
    retry: int = 0
    failed: int = 0
    unknown: int = 0
    notices: int = 0  # delivery_failed notices queued for the secretary
    expired: int = 0  # sweep digests of earlier days marked 过期未发 instead of being sent
    interrupted: int = 0  # ... and those a dead process had claimed: marked unknown
    lost_lease: int = 0
    # The server refused the connection, greeting, STARTTLS or login (its reply, one line):
    # the server's state, not the messages'; they wait for a retry. Told once per run.
    refusal: str | None = None
    rows: list[dict] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retry + self.failed + self.unknown

    @property
    def nothing_delivered(self) -> bool:
        return self.attempted > 0 and self.sent == 0

    def as_dict(self) -> dict:
        return {
            "worker": self.worker,
            "attempted": self.attempted,
            "sent": self.sent,
            "retry": self.retry,
            "failed": self.failed,
            "unknown": self.unknown,
            "notices": self.notices,
            "lost_lease": self.lost_lease,
            "expired": self.expired,
            "interrupted": self.interrupted,
            "refusal": self.refusal,
        }


def mail_key(row: OutboxMail) -> str:
    """File-name-safe and stable: the .eml file name in outbox mode."""
    return f"{row.day:%Y%m%d}-{row.id:06d}-{row.kind}"


def message_id(row: OutboxMail, mail_from: str) -> str:
    """Stable across retries, so a duplicate after an unknown outcome can be recognised."""
    return f"<rectify.{row.id}.{row.day:%Y%m%d}@{_domain(mail_from)}>"


@lru_cache(maxsize=8)
def _domain(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "rectify.local"


def _run(coro):
    """asyncio.run, also when called from a thread that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class _Marker:
    """Records outcomes in small transactions while the batch is sending, and holds the lease.

    Called with each result; ticked by the batch every notifications.smtp.TICK seconds, when
    it commits what is buffered and, every quarter lease, renews the lease; asked before each
    message whether that row may still be sent (may_send).
    """

    def __init__(self, session_maker, worker, rows, mail_from, report, flush_every, lease):
        self.session_maker, self.worker, self.report = session_maker, worker, report
        self.rows = rows  # key -> OutboxMail
        self.mail_from, self.flush_every = mail_from, flush_every
        self.buffer: list = []
        self.lease = lease.total_seconds()
        self.renewed = time.monotonic()  # the claim was committed just before
        self.held = {row.id for row in rows.values()}  # claimed, outcome not yet recorded
        self.lost: set[int] = set()

    def __call__(self, result) -> None:
        self.buffer.append(result)
        if len(self.buffer) >= self.flush_every:
            self.flush()

    def tick(self) -> None:
        self.flush()
        if time.monotonic() - self.renewed >= self.lease / 4:
            self.renew()

    def renew(self) -> None:
        ids = self.held - self.lost
        with self.session_maker.begin() as session:
            kept = renew_lease(session, self.worker, ids, now=utcnow())
        self.renewed = time.monotonic()
        for mail_id in sorted(ids - kept):
            log.warning("邮件 %s 的租约已被其他催办进程接管，本进程不再发送", mail_id)
        self.lost |= ids - kept

    def may_send(self, key: str) -> bool:
        if time.monotonic() - self.renewed > self.lease / 2:
            try:  # the ticks fell behind: renew now, or leave the rest to the next holder
                self.renew()
            except Exception as exc:
                log.warning("无法续租（%s），剩余邮件留给下次催办", exc)
                return False
        return self.rows[key].id not in self.lost

    def flush(self) -> None:
        if not self.buffer:
            return
        with self.session_maker.begin() as session:
            lost = mark_results(
                session,
                self.worker,
                [
                    {
                        "id": self.rows[r.key].id,
                        "status": r.status,
                        "error": r.error,
                        "attempts": r.attempts,
                        "prior_attempts": self.rows[r.key].attempts,
                        "message_id": message_id(self.rows[r.key], self.mail_from),
                    }
                    for r in self.buffer
                ],
            )
            for result in self.buffer:
                row = self.rows[result.key]
                self.held.discard(row.id)
                status = final_status(result.status, row.attempts + result.attempts)
                self.report.lost_lease += row.id in lost
                setattr(self.report, status, getattr(self.report, status) + 1)
                self.report.rows.append(
                    {
                        "id": row.id,
                        "kind": row.kind,
                        "recipient": row.recipient_name,
                        "email": row.recipient_email,
                        "status": status,
                        "status_label": OUTBOX_STATUS_LABELS[status],
                        "attempts": row.attempts + result.attempts,
                        "error": result.error or "",
                    }
                )
        self.buffer.clear()


def _outgoing(
    rows: list[OutboxMail], mail_from: str, bound: links.Bound | None = None, unbound: str | None = None
):
    """Build MIME messages; a row that cannot be built (bad address, control characters in a
    name) gets a permanent failure instead of a message. Links to item runs and the 验证码 are
    bound here (`bound`, rectify.links): the stored row holds tokens, the message the values.
    With `unbound` (this process has another code key), rows carrying a code wait for a retry
    with that reason: another process with the right key may send them."""
    from notifications.compose import Recipient, build_message
    from notifications.headers import HeaderInjectionError
    from notifications.smtp import DeliveryResult, OutgoingMail

    bound = bound or links.Bound()
    mails, refused = [], []
    for row in rows:
        if unbound and links.code_ids(row.body_text, row.body_html):
            refused.append(DeliveryResult(mail_key(row), "retry", unbound, 1))
            continue
        try:
            msg = build_message(
                sender=mail_from,
                to=[Recipient(row.recipient_name, row.recipient_email)],
                cc=[Recipient(name, addr) for name, addr in (row.cc or [])],
                subject=links.bind(row.subject, bound),
                text=links.bind(row.body_text, bound),
                html=links.bind(row.body_html, bound),
                message_id=message_id(row, mail_from),
            )
        except (HeaderInjectionError, ValueError) as exc:
            refused.append(DeliveryResult(mail_key(row), "failed", f"邮件无法生成：{exc}", 0))
            continue
        mails.append(OutgoingMail(mail_key(row), msg))
    return mails, refused


def deliver_pending(
    session_maker: sessionmaker[Session],
    config,
    *,
    day: date,
    worker: str | None = None,
    chunk: int = 500,
    lease: timedelta = DEFAULT_LEASE,
    max_attempts: int = 3,
    backoff: float = 0.5,
    flush_every: int = 100,
    report_failures: bool = True,
    progress: Callable[[int, int], None] | None = None,
    sources: tuple[str, ...] | None = None,
    items: tuple[str, ...] | None = None,
) -> DeliveryReport:
    """Send everything claimable (pending, retry from earlier sweeps, expired leases) of
    `sources` (None: sweep digests and notices; NOTICES: notices only) and, with `items` (item
    codes), only those about one of these items (an item run's own notices).

    Sweep digests of days before `day` are never sent: when sweep rows are in scope they are
    marked 'expired' first (rectify.outbox_claims.expire_stale_digests), and the claim itself
    excludes them, so a row another process left behind cannot slip through either.
    """
    from notifications.smtp import deliver

    worker = worker or new_worker_id()
    report = DeliveryReport(worker)
    started = utcnow()
    if sources is None or "sweep" in sources:
        with session_maker.begin() as session:
            report.expired, interrupted = expire_stale_digests(session, day, now=started, lease=lease)
        report.interrupted = interrupted
        if report.expired:
            log.warning("%d封%s前未能投递的催办邮件已标记为过期未发，不再补发", report.expired, day)
        if interrupted:
            log.warning("%d封%s前发送中断的催办邮件结果未知，不再补发，已通知秘书核实", interrupted, day)
    scope = dict(sources=sources, day=day, items=items)
    with session_maker() as session:
        total = count_claimable(session, now=started, lease=lease, **scope)
    done, reported = 0, False
    while True:
        with session_maker.begin() as session:
            rows = claim_pending(
                session, worker, chunk, now=utcnow(), lease=lease, not_claimed_since=started, **scope
            )
            # the runs their links point to, as the ledger says now, and their codes
            # (one SELECT each, no lock; rectify.links)
            texts = [t for r in rows for t in (r.subject, r.body_text, r.body_html)]
            unbound = None
            try:
                bound = links.resolve(session, texts)
            except codes.OtherKey as exc:  # never sent with a wrong code: left for a retry
                log.error("%s：含验证码的邮件留待重试", exc)
                bound, unbound = links.resolve_runs(session, texts), f"邮件未发送：{exc}"
        if not rows:
            if report_failures and not reported:
                reported = True
                with session_maker.begin() as session:
                    report.notices = queue_failure_notices(session, day)
                if report.notices:
                    total += report.notices
                    continue
            break
        by_key = {mail_key(row): row for row in rows}
        marker = _Marker(session_maker, worker, by_key, config.mail_from, report, flush_every, lease)
        mails, refused = _outgoing(rows, config.mail_from, bound, unbound)
        for result in refused:
            marker(result)
        try:
            outcome = _run(
                deliver(
                    mails, config, on_result=marker, max_attempts=max_attempts, backoff=backoff, guard=marker
                )
            )
        finally:
            marker.flush()  # whatever was delivered is recorded, even if the batch broke
        report.lost_lease += outcome.skipped
        if outcome.refusal and report.refusal is None:
            report.refusal = outcome.refusal  # told once, by the caller (CLI line, run log)
        done += len(rows)
        if progress is not None:
            progress(done, max(total, done))
        if outcome.refusal and not any(r is not None and r.status == "sent" for r in outcome):
            break  # the server refuses every connection: leave the other chunks untouched
    if report.attempted:
        log.info(
            "邮件投递：发送%d封，待重试%d封，失败%d封，结果未知%d封",
            report.sent,
            report.retry,
            report.failed,
            report.unknown,
        )
    return report

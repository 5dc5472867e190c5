"""Claiming outbox rows for delivery, holding them with a lease, and recording outcomes.

The guards that make delivery exactly-once in practice (rectify.delivery says the order of
events): a claim takes rows no other sweep holds (row locks with SKIP LOCKED on PostgreSQL, the
repeated condition on SQLite), a lease that a dead process's rows expire from, outcomes recorded
only by the lease holder, stale digests expired rather than replayed, failures reported once.
Split from rectify.reminders, which plans; rectify.outbox records.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from models import Item, OutboxMail, Person, ReminderLine, Role
from models.base import utcnow
from rectify.errors import ConcurrentChange
from rectify.outbox import queue_notice

log = logging.getLogger("rectify.reminders")

# A sweep killed after claiming leaves rows in "sending"; after this long another sweep may
# claim them again. Far longer than a batch takes (5,000 mails go out in seconds).
DEFAULT_LEASE = timedelta(minutes=15)
# Retries across sweeps: a row still failing transiently after this many attempts in total
# is marked failed and reported, not retried forever.
MAX_TOTAL_ATTEMPTS = 12
RETRY_FIRST, RETRY_MAX = timedelta(minutes=1), timedelta(hours=1)
# What happens to an email waiting for a retry, as people are told: a sweep digest is sent by
# a later run of the same day only (the next day's sweep marks it 过期未发); a notice waits.
RETRY_NOTE = (
    "待重试的当日催办邮件在当天再次运行催办时补发，次日起不再补发（过期未发）；"
    "待重试的通知邮件在其重试时间后随下一次命令或催办发出"
)


def retry_delay(attempts: int) -> timedelta:
    """How long a row waits after a transient failure before it may be claimed again:
    1, 2, 4 … minutes by attempts so far, at most an hour. A refusal of the connection itself
    counts no attempt and waits the first step."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _waiting(now: datetime, since: datetime, lease: timedelta):
    return or_(
        # waiting, due, and not already tried by the sweep that started at `since`
        and_(
            OutboxMail.status.in_(("pending", "retry")),
            or_(OutboxMail.next_attempt_at.is_(None), OutboxMail.next_attempt_at <= now),
            or_(OutboxMail.claimed_at.is_(None), OutboxMail.claimed_at < since),
        ),
        # claimed by a sweep that died (or is far slower than any sweep should be)
        and_(OutboxMail.status == "sending", OutboxMail.claimed_at < now - lease),
    )


def _claimable(
    now: datetime,
    since: datetime,
    lease: timedelta,
    *,
    sources: tuple[str, ...] | None = None,
    day: date | None = None,
    items: tuple[str, ...] | None = None,
):
    """Waiting rows of `sources` (None: all). With `day`, a sweep digest of an earlier day is
    never claimable: it is expired instead (expire_stale_digests), not replayed. With `items`
    (item codes), only emails about one of them (an item run sends its own item's notices;
    the sweep and the intake send the rest)."""
    cond = _waiting(now, since, lease)
    if sources is not None:
        cond = and_(cond, OutboxMail.source.in_(sources))
    if items is not None:
        cond = and_(
            cond,
            OutboxMail.id.in_(
                select(ReminderLine.outbox_id)
                .join(Item, Item.id == ReminderLine.item_id)
                .where(Item.code.in_(items))
            ),
        )
    if day is not None:
        cond = and_(cond, or_(OutboxMail.source != "sweep", OutboxMail.day >= day))
    return cond


def expire_stale_digests(
    session: Session, day: date, *, now: datetime | None = None, lease: timedelta = DEFAULT_LEASE
) -> tuple[int, int]:
    """Close undelivered sweep digests of days before `day`; returns (expired, unknown).

    DOMAIN.md: a missed day is not replayed as a burst of old notices, and one email per
    person per day. Today's digest already lists whatever is still due or overdue, so an old
    digest waiting to be sent is recorded 'expired' (过期未发) rather than sent late. One left
    in 'sending' by a process that died (lease over) may have reached the server: it becomes
    'unknown', reported to the secretary, never 'expired' (which would claim it was not sent).
    Event notices are not touched: an assignment or a rejection is still news a day later.
    """
    now = now or utcnow()
    stale = and_(OutboxMail.source == "sweep", OutboxMail.day < day)
    dead = session.execute(
        update(OutboxMail)
        .where(stale, OutboxMail.status == "sending", OutboxMail.claimed_at < now - lease)
        .values(
            status="unknown",
            last_error="发送过程中断（催办进程意外退出），无法确认是否已送达；为免重复发送，不再补发，请人工核实",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return session.execute(
        update(OutboxMail)
        .where(stale, OutboxMail.status.in_(("pending", "retry")))
        .values(
            status="expired",  # the last delivery error is kept in front of the reason
            last_error=func.coalesce(OutboxMail.last_error + "；", "")
            + f"{day} 前未能投递的催办邮件不再补发（当日催办已包含仍到期或逾期的事项）",
        )
        .execution_options(synchronize_session=False)
    ).rowcount, dead


def count_claimable(
    session: Session,
    *,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    sources: tuple[str, ...] | None = None,
    day: date | None = None,
    items: tuple[str, ...] | None = None,
) -> int:
    now = now or utcnow()
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxMail)
            .where(_claimable(now, now, lease, sources=sources, day=day, items=items))
        )
        or 0
    )


def claim_pending(
    session: Session,
    worker: str,
    limit: int,
    *,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    not_claimed_since: datetime | None = None,
    sources: tuple[str, ...] | None = None,
    day: date | None = None,
    items: tuple[str, ...] | None = None,
) -> list[OutboxMail]:
    """Claim up to `limit` rows for `worker`: status -> sending, with a lease.

    A SELECT that takes row locks with SKIP LOCKED on PostgreSQL (two sweeps never wait for,
    nor take, each other's rows), then a conditional UPDATE of exactly those rows; SQLite ignores FOR
    UPDATE and serialises writers, so the repeated condition alone makes the claim exclusive.
    The caller must commit before sending, so that other sweeps see the lease. `sources`,
    `day` and `items` as in _claimable.
    """
    now = now or utcnow()
    claimable = _claimable(now, not_claimed_since or now, lease, sources=sources, day=day, items=items)
    # Two statements, not `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`:
    # PostgreSQL may plan that sub-SELECT as a SubPlan run again for each outbox row, and a
    # re-run skips the rows this very UPDATE has just changed and takes the next n, so one
    # claim took the whole outbox (61 rows for chunk=7: test_two_concurrent_sweeps… failed
    # once the rendered bodies grew, with codes and links, enough to change the plan).
    # The ids are fetched (and row-locked) first; the UPDATE then touches exactly those.
    candidates = list(
        session.scalars(
            select(OutboxMail.id)
            .where(claimable)
            .order_by(OutboxMail.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not candidates:
        return []
    claimed = session.scalars(
        update(OutboxMail)
        .where(OutboxMail.id.in_(candidates), claimable)
        .values(status="sending", claimed_by=worker, claimed_at=now)
        .returning(OutboxMail.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        return []
    return list(
        session.scalars(
            select(OutboxMail)
            .where(OutboxMail.id.in_(claimed))
            .order_by(OutboxMail.id)
            .execution_options(populate_existing=True)
        )
    )


def renew_lease(session: Session, worker: str, ids, *, now: datetime | None = None) -> set[int]:
    """Extend `worker`'s lease on the rows `ids` it is still sending; returns those it holds.
    A row missing from the answer was taken over (its lease ran out) or changed by hand: the
    worker must not send it."""
    if not ids:
        return set()
    return set(
        session.scalars(
            update(OutboxMail)
            .where(
                OutboxMail.id.in_(list(ids)), OutboxMail.claimed_by == worker, OutboxMail.status == "sending"
            )
            .values(claimed_at=now or utcnow())
            .returning(OutboxMail.id)
            .execution_options(synchronize_session=False)
        )
    )


def final_status(status: str, attempts_total: int) -> str:
    """A transient failure that has used up its attempts across sweeps becomes permanent."""
    if status == "retry" and attempts_total >= MAX_TOTAL_ATTEMPTS:
        return "failed"
    return status


def mark_results(
    session: Session, worker: str, outcomes: list[dict], *, now: datetime | None = None
) -> set[int]:
    """Record delivery outcomes in one executemany; returns the ids whose lease was lost.

    Each outcome: id, status, error, attempts, prior_attempts, message_id. Only the worker
    holding the lease (claimed_by, status "sending") may record; a transient failure that has
    used up its attempts across sweeps is recorded as failed.
    """
    if not outcomes:
        return set()
    now = now or utcnow()
    table = OutboxMail.__table__
    params, expected = [], {}
    for o in outcomes:
        total = o["prior_attempts"] + o["attempts"]
        final = final_status(o["status"], total)
        error = o["error"]
        if final != o["status"]:
            error = f"{error}（已累计尝试{total}次，不再自动重发）"
        params.append(
            {
                "b_id": o["id"],
                "b_worker": worker,
                "b_status": final,
                "b_attempts": total,
                "b_error": error,
                "b_message_id": o.get("message_id"),
                "b_sent_at": now if final == "sent" else None,
                "b_next": now + retry_delay(total) if final == "retry" else None,
            }
        )
        expected[o["id"]] = (final, total)
    stmt = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.claimed_by == bindparam("b_worker"),
            table.c.status == "sending",
        )
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            last_error=bindparam("b_error"),
            message_id=bindparam("b_message_id"),
            sent_at=bindparam("b_sent_at"),
            next_attempt_at=bindparam("b_next"),
        )
    )
    result = session.execute(stmt, params)
    if session.get_bind().dialect.supports_sane_multi_rowcount and result.rowcount == len(params):
        return set()
    # Which rows were not ours any more? Exact: our UPDATE holds these rows (PostgreSQL row
    # locks, SQLite's write lock) until commit, so nobody can claim them in between.
    recorded = {
        row.id
        for row in session.execute(
            select(table.c.id, table.c.status, table.c.attempts).where(
                table.c.id.in_(list(expected)), table.c.claimed_by == worker
            )
        )
        if expected[row.id] == (row.status, row.attempts)
    }
    lost = set(expected) - recorded
    for mail_id in sorted(lost):
        log.warning("邮件 %s 的发送结果未记录：租约已被其他催办进程接管", mail_id)
    return lost


def queue_failure_notices(session: Session, day: date, *, now: datetime | None = None) -> int:
    """Tell every secretary about failed/unknown deliveries not yet reported; returns notices.

    The rows are marked reported with a conditional UPDATE in the same transaction as the
    notices, so two sweeps cannot both report them. Failures of these notices themselves are
    not reported again (that could loop), only listed by `rectify outbox --failed`.
    """
    now = now or utcnow()
    rows = session.execute(
        select(
            OutboxMail.id,
            OutboxMail.recipient_name,
            OutboxMail.recipient_email,
            OutboxMail.kind,
            OutboxMail.status,
            OutboxMail.last_error,
        )
        .where(
            OutboxMail.status.in_(("failed", "unknown")),
            OutboxMail.failure_reported_at.is_(None),
            OutboxMail.kind != "delivery_failed",
        )
        .order_by(OutboxMail.id)
    ).all()
    if not rows:
        return 0
    secretaries = session.scalars(
        select(Person).where(Person.role == Role.secretary).order_by(Person.id)
    ).all()
    if not secretaries:
        log.warning("有%d封邮件投递失败，但人员名单中没有秘书，无法发送失败通知", len(rows))
        return 0
    ids = [r.id for r in rows]
    marked = session.execute(
        update(OutboxMail)
        .where(OutboxMail.id.in_(ids), OutboxMail.failure_reported_at.is_(None))
        .values(failure_reported_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if marked != len(ids):
        raise ConcurrentChange("投递失败记录刚被另一催办进程处理，请稍后重试")
    failures = [
        {
            "recipient": r.recipient_name,
            "email": r.recipient_email,
            "kind": r.kind,
            "error": (r.last_error or "") if r.status == "failed" else f"结果未知：{r.last_error or ''}",
        }
        for r in rows
    ]
    queued = 0
    for secretary in secretaries:
        if (
            queue_notice(
                session,
                kind="delivery_failed",
                to=secretary,
                day=day,
                key=f"delivery_failed:{secretary.id}:{ids[0]}-{ids[-1]}",
                context={"failures": failures},
            )
            is not None
        ):
            queued += 1
    return queued

"""The outbox: every email is recorded here first, in the transaction of what it is about.

Sweep digests (record_reminders, with their reminder lines) and event notices (queue_notice:
交办, 退回, 销号, 办理请求, 投递失败 …) are rows of one table, idempotent on their key, so a
retried step or a second sweep records nothing twice; delivery (rectify.delivery, with
rectify.outbox_claims) sends what is recorded. Split from rectify.reminders, which plans.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from models import Item, Measure, OutboxMail, Person, ReminderLine
from models.base import utcnow
from rectify.digest_acts import attach_acts
from rectify.digest_render import render_digest

if TYPE_CHECKING:
    from rectify.reminders import ReminderPlan


def _insert(session: Session, table):
    """INSERT with the dialect's ON CONFLICT support (SQLite and PostgreSQL both have it)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


@dataclass
class RecordResult:
    mails: int = 0
    lines: int = 0
    skipped: int = 0  # digests another sweep recorded first


def record_reminders(session: Session, day: date, plan: ReminderPlan, settings=None) -> RecordResult:
    """Insert the plan's emails and lines in the caller's transaction; idempotent per day.

    An email whose key exists (another sweep recorded it first) is skipped with its lines. A
    line that collides with a recorded one raises IntegrityError and the whole transaction
    rolls back: that would be a reminder sent twice.
    """
    result = RecordResult()
    if not plan.digests:
        return result
    if settings is None:
        from rectify.settings import get_settings

        settings = get_settings()
    now = utcnow()
    by_key = {}
    rows = []
    for digest in plan.digests:
        by_key[digest.key] = digest
        rows.append(
            {
                "key": digest.key,
                "source": "sweep",
                "day": day,
                "kind": digest.kind,
                "sections": ",".join(digest.sections),
                "recipient_id": digest.recipient_id,
                "recipient_name": digest.name,
                "recipient_email": digest.email,
                "cc": [],
                "subject": "",
                "body_text": "",
                "body_html": "",
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
        )
    table = OutboxMail.__table__
    stmt = (
        _insert(session, table)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.id, table.c.key)
    )
    inserted = session.execute(stmt, rows).all()
    # Codes only for the digests this sweep recorded: a digest another sweep recorded first
    # is that sweep's, and a code issued for it here would void the one in its email.
    # Rendered after the insert, in this transaction (nobody can claim a row before commit).
    attach_acts(session, [by_key[key] for _, key in inserted], settings, issue=True)
    for digest in plan.digests:
        render_digest(digest, settings)
    if inserted:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                subject=bindparam("b_subject"), body_text=bindparam("b_text"), body_html=bindparam("b_html")
            ),
            [
                {
                    "b_id": mail_id,
                    "b_subject": by_key[key].subject,
                    "b_text": by_key[key].text,
                    "b_html": by_key[key].html,
                }
                for mail_id, key in inserted
            ],
        )
    line_rows = [
        {
            "outbox_id": mail_id,
            "item_id": line.item_id,
            "measure_position": line.measure_position,
            "rung": line.rung,
            "recipient_id": line.recipient_id,
            "deadline": line.deadline,
            "occurrence": line.occurrence,
            "days": line.days,
        }
        for mail_id, key in inserted
        for line in by_key[key].lines
    ]
    if line_rows:
        session.execute(ReminderLine.__table__.insert(), line_rows)
    result.mails, result.lines = len(inserted), len(line_rows)
    result.skipped = len(rows) - len(inserted)
    session.flush()
    return result


def _item_entries(session: Session, items: list[Item]) -> list[dict]:
    ids = [item.id for item in items]
    if not ids:
        return []
    names = dict(session.execute(select(Person.id, Person.name)).all())
    measures: dict[int, list[dict]] = defaultdict(list)
    for item_id, position, text, deadline, deadline_text in session.execute(
        select(Measure.item_id, Measure.position, Measure.text, Measure.deadline, Measure.deadline_text)
        .where(Measure.item_id.in_(ids))
        .order_by(Measure.item_id, Measure.position)
    ):
        measures[item_id].append(
            {"number": position + 1, "text": text, "deadline": deadline or deadline_text, "light": None}
        )
    return [
        {
            "code": item.code,
            "description": item.description,
            "department": item.department,
            "owner": names.get(item.owner_id, "—"),
            "leader": names.get(item.leader_id, "—"),
            "deadline": item.deadline or "长期坚持",
            "days_left": None,
            "days_overdue": None,
            "measures": measures[item.id],
            "light": None,
        }
        for item in items
    ]


def render_notice(
    session: Session,
    *,
    kind: str,
    to: Person,
    items: list[Item],
    day: date,
    context: dict | None = None,
    item_acts: list[dict] | None = None,
) -> tuple[str, str, str]:
    """(subject, text, html) of an event email; `item_acts`: each item's own link and code."""
    from notifications.compose import render

    entries = _item_entries(session, list(items))
    for entry, act in zip(entries, item_acts or ()):  # one link and code per item (acting.batch)
        entry["act"] = act
    return render(kind, recipient=to.name, day=day, items=entries, **(context or {}))


def queue_notice(
    session: Session,
    *,
    kind: str,
    to: Person,
    cc: list[Person] = (),
    items: list[Item] = (),
    day: date,
    key: str,
    context: dict | None = None,
    item_acts: list[dict] | None = None,
) -> int | None:
    """Record an event email (assigned / rejected / closed / delivery_failed) in the outbox.

    `item_acts`: each item's own link and code (rectify.acting's batched 交办), shown under it.
    Idempotent on `key`: the second call with the same key records nothing and returns None;
    otherwise returns the new row's id. Call it in the transaction of the event itself, so
    the notice exists exactly when the event does; `deliver_outbox` sends it.
    """
    subject, text, html = render_notice(
        session, kind=kind, to=to, items=items, day=day, context=context, item_acts=item_acts
    )
    table = OutboxMail.__table__
    stmt = (
        _insert(session, table)
        .values(
            key=key,
            source="notice",
            day=day,
            kind=kind,
            sections=kind,
            recipient_id=to.id,
            recipient_name=to.name,
            recipient_email=to.email,
            cc=[[p.name, p.email] for p in cc if p.id != to.id],
            subject=subject,
            body_text=text,
            body_html=html,
            status="pending",
            attempts=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.id)
    )
    mail_id = session.execute(stmt).scalar()
    if mail_id is not None and items:
        session.execute(
            ReminderLine.__table__.insert(),
            [
                {
                    "outbox_id": mail_id,
                    "item_id": item.id,
                    "measure_position": -1,
                    "rung": kind,
                    "recipient_id": to.id,
                    "deadline": item.deadline,
                    "occurrence": None,
                    "days": None,
                }
                for item in items
            ],
        )
    session.flush()
    return mail_id

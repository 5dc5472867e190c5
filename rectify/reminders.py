"""The reminder ladder (DOMAIN.md "Reminder ladder") and the outbox it writes to. No Prefect.

Who is reminded
    Measures with a deadline of items that are new (待交办) or in_progress (整改中) and have an
    owner. Not submitted (待审核): the owner has done their part and the secretary is reviewing.
    Never closed (已销号) or ongoing (长期坚持) items, never ongoing measures (no deadline).
    Each measure has its own deadline and is done on its own (rectify/measures.py), so every
    rung runs per unfinished measure: a done measure is never reminded, and an unfinished one
    past its deadline makes the item overdue (the rule `rectify list` and the report use).
    Each entry names the measures it is about (措施 N) and carries their lights (亮灯).

The rungs, for a working day ``day`` and a measure deadline ``D`` (working days are counted
with the statutory calendar, 调休 included):

    due_soon_N         owner      N working days left (N in settings.remind_before_days)
    due_today          owner      no working day left: D is today, or D falls on a holiday and
                                  today is the last working day before it
    due_today_cc       leader     the leader's copy of due_today (see "one email" below)
    overdue_owner      owner      D < day, every working day
    overdue_leader     leader     >= settings.escalate_leader_after_days working days overdue
    overdue_secretary  secretary  >= settings.escalate_secretary_after_days, every secretary

Nothing is planned on a non-working day, and only today's rungs are computed: a missed day is
not replayed, and a digest not delivered on its day is marked expired (过期未发) rather than
sent later (expire_stale_digests). A later day's sweep is refused (check_sweep_day). One email per recipient per day: all of a person's rungs go into one digest
(sections in a fixed order, overdue items oldest deadline first). The deadline-day copy to the
leader is therefore a section of the leader's own digest rather than a Cc, which would be a
second email to a leader who also gets an escalation digest that day.

Beside the ladder the same digests carry 定期报送, 回头看 and the December calendar notice
(rectify.digest_sections: rungs report_soon, report_today, recheck_due, and a section calendar).

Queries are set-based: planning is a fixed number of SELECTs whatever the number of items
(four for the ladder, at most six more for those sections); recording is two bulk INSERTs. The database's unique constraints (models/reminders.py) are the guard
against sending twice; the planning query only avoids planning what they would refuse.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from models import Item, Measure, OutboxMail, Person, ReminderLine, Role, Status
from models.base import utcnow
from rectify import measures as rules
from rectify.digest_acts import attach_acts
from rectify.digest_sections import SECTIONS as EXTRA_SECTIONS
from rectify.digest_sections import extra_lines, section_texts
from rectify.errors import ConcurrentChange, RectifyError
from rectify.workdays import WorkCalendar

log = logging.getLogger("rectify.reminders")

# Items in these states get deadline reminders (see the module docstring for why).
REMINDED_STATUSES = (Status.new, Status.in_progress)

# Sections of a digest, in the order a person reads them.
SECTION_ORDER = ("due_today", "due_soon", "overdue_owner", "report", "due_today_cc",
                 "overdue_leader", "overdue_secretary", "recheck_due", "calendar")
ONCE_RUNGS_PREFIX = ("due_soon_", "due_today")  # recorded once per deadline; the rest daily

# A sweep killed after claiming leaves rows in "sending"; after this long another sweep may
# claim them again. Far longer than a batch takes (5,000 mails go out in seconds).
DEFAULT_LEASE = timedelta(minutes=15)
# Retries across sweeps: a row still failing transiently after this many attempts in total
# is marked failed and reported, not retried forever.
MAX_TOTAL_ATTEMPTS = 12
RETRY_FIRST, RETRY_MAX = timedelta(minutes=1), timedelta(hours=1)
# What happens to an email waiting for a retry, as people are told: a sweep digest is sent by
# a later run of the same day only (the next day's sweep marks it 过期未发); a notice waits.
RETRY_NOTE = ("待重试的当日催办邮件在当天再次运行催办时补发，次日起不再补发（过期未发）；"
              "待重试的通知邮件在其重试时间后随下一次命令或催办发出")


class FutureDay(RectifyError):
    """A sweep for a day other than today (the name is older than the past-day rule)."""


def check_sweep_day(day: date, today: date, dry_run: bool) -> None:
    """Only today's sweep records and sends. A later day's reminders would go out early and,
    being recorded, be skipped on the real day; an earlier day's would replay the ladder with
    stale 今日到期 text (DOMAIN.md: a missed day is not replayed). A dry run records nothing,
    so it may look at any day."""
    if dry_run or day == today:
        return
    when = "晚于" if day > today else "早于"
    raise FutureDay(f"{day} {when}今天（{today}，北京时间），只能发送当天的催办；"
                    "如需查看该日将发送的邮件请用试运行（--dry-run）")


def retry_delay(attempts: int) -> timedelta:
    """How long a row waits after a transient failure before it may be claimed again:
    1, 2, 4 … minutes by attempts so far, at most an hour. A refusal of the connection itself
    counts no attempt and waits the first step."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def section_of(rung: str) -> str:
    if rung.startswith("report_"):
        return "report"  # 定期报送, rectify.digest_sections
    return "due_soon" if rung.startswith("due_soon_") else rung


def is_once_rung(rung: str) -> bool:
    return rung.startswith(ONCE_RUNGS_PREFIX)


@dataclass(frozen=True)
class PlannedLine:
    item_id: int
    code: str
    measure_position: int
    rung: str
    recipient_id: int
    deadline: date
    occurrence: date
    days: int  # working days left (due rungs) or overdue (overdue rungs)

    @property
    def unique_key(self) -> tuple:
        """The reminder_lines unique key: by item and deadline, not by measure position, so a
        re-import that reorders measures neither resends nor suppresses a reminder."""
        return (self.item_id, self.rung, self.recipient_id, self.deadline, self.occurrence)


@dataclass
class PlannedDigest:
    key: str
    day: date
    recipient_id: int
    name: str
    email: str
    lines: list[PlannedLine] = field(default_factory=list)
    sections: dict[str, list[dict]] = field(default_factory=dict)  # section -> item entries
    subject: str = ""
    text: str = ""
    html: str = ""

    @property
    def kind(self) -> str:
        return next(iter(self.sections)) if len(self.sections) == 1 else "digest"

    @property
    def item_count(self) -> int:
        return len({line.item_id for line in self.lines})


@dataclass
class ReminderPlan:
    day: date
    workday: bool
    digests: list[PlannedDigest] = field(default_factory=list)
    # Recipients left out because they already have today's digest (a re-run of the day).
    already_sent_to: list[str] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)  # due/overdue items, for the artifact

    @property
    def lines(self) -> list[PlannedLine]:
        return [line for d in self.digests for line in d.lines]


@dataclass
class _Row:
    item_id: int
    code: str
    description: str
    department: str
    owner_id: int
    leader_id: int | None
    position: int
    text: str
    deadline: date
    status: Status


# --- planning --------------------------------------------------------------------------

def _due_horizon(day: date, calendar: WorkCalendar, before: tuple[int, ...]) -> date:
    """The last deadline any due rung can be about: N working days left, N the largest."""
    return calendar.add_workdays(day, max((0, *before)) + 1) - timedelta(days=1)


def _rungs(row: _Row, day: date, calendar: WorkCalendar, settings, secretaries: list[int]):
    """(rung, recipient_id, days) for one measure on `day`."""
    if row.deadline >= day:
        left = calendar.workdays_until(day, row.deadline)
        if left == 0:
            yield "due_today", row.owner_id, 0
            if row.leader_id is not None and row.leader_id != row.owner_id:
                yield "due_today_cc", row.leader_id, 0
        elif left in settings.remind_before_days:
            yield f"due_soon_{left}", row.owner_id, left
        return
    overdue = calendar.workdays_between(row.deadline, day)
    yield "overdue_owner", row.owner_id, overdue
    if (overdue >= settings.escalate_leader_after_days and row.leader_id is not None
            and row.leader_id != row.owner_id):
        yield "overdue_leader", row.leader_id, overdue
    if overdue >= settings.escalate_secretary_after_days:
        for secretary_id in secretaries:
            yield "overdue_secretary", secretary_id, overdue


def plan_reminders(session: Session, day: date, calendar: WorkCalendar, settings) -> ReminderPlan:
    """Today's rungs for every open measure, as one digest per recipient. Writes nothing."""
    if not calendar.is_workday(day):
        return ReminderPlan(day, workday=False)
    before = tuple(sorted({n for n in settings.remind_before_days if n > 0}, reverse=True))
    horizon = _due_horizon(day, calendar, before)

    # 1. Every measure that is overdue or within the due horizon, with its item: one SELECT.
    rows = [
        _Row(*r) for r in session.execute(
            select(Item.id, Item.code, Item.description, Item.department, Item.owner_id,
                   Item.leader_id, Measure.position, Measure.text, Measure.deadline,
                   Item.status)
            .join(Measure, Measure.item_id == Item.id)
            .where(Item.status.in_(REMINDED_STATUSES), Item.owner_id.is_not(None),
                   Measure.deadline.is_not(None), Measure.done_on.is_(None),
                   Measure.deadline <= horizon)
            .order_by(Measure.deadline, Item.code, Measure.position)
        )
    ]
    # 2. People (names and addresses are copied onto the outbox rows).
    people = {pid: (name, email, role) for pid, name, email, role in
              session.execute(select(Person.id, Person.name, Person.email, Person.role))}
    secretaries = sorted(pid for pid, (_, _, role) in people.items() if role is Role.secretary)
    # 3. What is already recorded for these deadlines/today: the unique constraint's keys.
    recorded = {
        tuple(r) for r in session.execute(
            select(ReminderLine.item_id, ReminderLine.rung, ReminderLine.recipient_id,
                   ReminderLine.deadline, ReminderLine.occurrence)
            .where(ReminderLine.occurrence.between(day, horizon))
        )
    }
    # 4. Who already has today's digest (a re-run of the day sends them nothing new).
    mailed_today = set(session.scalars(
        select(OutboxMail.recipient_id).where(OutboxMail.source == "sweep", OutboxMail.day == day)
    ))

    yellow = rules.yellow_horizon(day, calendar, rules.yellow_days(settings))
    plan = ReminderPlan(day, workday=True)
    digests: dict[int, PlannedDigest] = {}
    skipped: set[int] = set()
    entries: dict[tuple[int, str, int], dict] = {}  # (recipient, section, item) -> entry
    planned: set[tuple] = set()  # measures of one item sharing a deadline: one line
    overview: dict[int, dict] = {}

    def digest_for(recipient_id: int, key: tuple | None) -> PlannedDigest | None:
        """The recipient's digest of today, or None: already recorded, or mailed today."""
        if key in recorded:
            return None
        if recipient_id in mailed_today:
            skipped.add(recipient_id)
            return None
        digest = digests.get(recipient_id)
        if digest is None:
            name, email, _ = people[recipient_id]
            digest = digests[recipient_id] = PlannedDigest(
                f"sweep:{day.isoformat()}:{recipient_id}", day, recipient_id, name, email)
        return digest

    for row in rows:
        for rung, recipient_id, days in _rungs(row, day, calendar, settings, secretaries):
            occurrence = row.deadline if is_once_rung(rung) else day
            line = PlannedLine(row.item_id, row.code, row.position, rung, recipient_id,
                               row.deadline, occurrence, days)
            digest = digest_for(recipient_id, line.unique_key)
            if digest is None:
                continue
            if line.unique_key not in planned:
                planned.add(line.unique_key)
                digest.lines.append(line)
            section = section_of(rung)
            # Rows come earliest deadline first: an entry shows (and is ordered by) the
            # deadline of its earliest measure, the one the days overdue are counted from.
            shown = row.deadline
            light = rules.light(row.status, row.deadline, day, yellow)
            entry = entries.get((recipient_id, section, row.item_id))
            if entry is None:
                entry = entries[(recipient_id, section, row.item_id)] = {
                    "code": row.code, "description": row.description,
                    "department": row.department,
                    "owner": people[row.owner_id][0],
                    "leader": people[row.leader_id][0] if row.leader_id else "—",
                    "deadline": shown, "days_left": days, "days_overdue": days,
                    "measures": [], "light": light,
                }
                digest.sections.setdefault(section, []).append(entry)
            entry["measures"].append({"number": row.position + 1, "text": row.text,
                                      "deadline": row.deadline, "light": light})
            entry["light"] = rules.worst(entry["light"], light)
            entry["days_overdue"] = max(entry["days_overdue"], days)
            entry["days_left"] = min(entry["days_left"], days)
            if rung.startswith(("due_soon", "due_today", "overdue_owner")):
                seen = overview.setdefault(row.item_id, {
                    "code": row.code, "owner": people[row.owner_id][0],
                    "leader": people[row.leader_id][0] if row.leader_id else "—",
                    "deadline": shown, "rung": rung, "days": days, "light": light,
                    "measures": [],
                })
                seen["light"] = rules.worst(seen["light"], light)
                if row.position + 1 not in seen["measures"]:
                    seen["measures"].append(row.position + 1)
    # 定期报送, 回头看 and the calendar notice: sections of the same digests.
    names = {pid: p[0] for pid, p in people.items()}
    for extra in extra_lines(session, day, calendar, settings, names, secretaries):
        line = None if extra.item_id is None else PlannedLine(
            extra.item_id, extra.code, -1, extra.rung, extra.recipient_id, extra.deadline,
            extra.occurrence, extra.days)
        digest = digest_for(extra.recipient_id, line.unique_key if line else None)
        if digest is not None:
            if line is not None:
                digest.lines.append(line)
            digest.sections.setdefault(section_of(extra.rung), []).append(extra.entry)
    for digest in digests.values():
        digest.sections = {s: digest.sections[s] for s in SECTION_ORDER if s in digest.sections}
        for name, section_entries in digest.sections.items():
            if name.startswith("overdue"):  # oldest item deadline first
                section_entries.sort(key=lambda e: (e["deadline"], e["code"]))
    plan.digests = sorted(digests.values(), key=lambda d: d.recipient_id)
    plan.already_sent_to = sorted(people[pid][0] for pid in skipped)
    plan.items = list(overview.values())
    if skipped:
        log.info("%s今日已发送过催办邮件，本次不再重复发送", "、".join(plan.already_sent_to))
    return plan


# --- rendering --------------------------------------------------------------------------

SECTION_TEXT = {
    "due_today": ("今日到期", "今日到期",
                  "以下事项今日到期（逢节假日提前至节前最后一个工作日），已完成整改的请于今日提交销号申请及佐证材料；确有困难的请及时向责任领导报告。责任领导已同时收到提醒。"),
    "due_soon": ("即将到期", "即将到期",
                 "以下事项即将到期，请对照整改措施抓紧推进，确保按期完成。"),
    "overdue_owner": ("已逾期", "已逾期",
                      "以下事项已超过整改时限（按到期先后排列），请尽快推进整改；如需调整时限，请按程序报批。"),
    "due_today_cc": ("今日到期（抄送责任领导）", "分管事项今日到期",
                     "由您担任责任领导的以下事项今日到期，已同时提醒责任人，请予关注。"),
    "overdue_leader": ("逾期{leader}个工作日以上（责任领导督办）", "分管事项逾期",
                       "由您担任责任领导的以下事项已逾期{leader}个工作日以上（按到期先后排列），请督促责任部门和责任人加快整改进度。"),
    "overdue_secretary": ("逾期{secretary}个工作日以上（督查）", "逾期{secretary}个工作日以上",
                          "以下事项已逾期{secretary}个工作日以上（按到期先后排列），请予督查督办。"),
}

# Single-section emails use the kind's own template when its wording fits the settings.
_OWN_TEMPLATE = {
    "due_soon": lambda s: True,
    "overdue_owner": lambda s: True,
    "overdue_leader": lambda s: s.escalate_leader_after_days == 3,
    "overdue_secretary": lambda s: s.escalate_secretary_after_days == 10,
}


def render_digest(digest: PlannedDigest, settings) -> None:
    """Fill subject, text and html (autoescaped) from notifications/templates."""
    from notifications.compose import environment, render

    kind = digest.kind
    # the codes' expiry, for the note under the items (rectify.digest_acts), when there are codes
    acts_until = max((e["act"]["expires"] for entries in digest.sections.values() for e in entries
                      if isinstance(e, dict) and (e.get("act") or {}).get("code")), default=None)
    if kind in _OWN_TEMPLATE and _OWN_TEMPLATE[kind](settings):
        digest.subject, digest.text, digest.html = render(
            kind, recipient=digest.name, day=digest.day, items=digest.sections[kind],
            acts_until=acts_until)
        return
    fmt = {"leader": settings.escalate_leader_after_days,
           "secretary": settings.escalate_secretary_after_days}
    sections = []
    for name, items in digest.sections.items():
        if name in EXTRA_SECTIONS:
            title, short, intro = section_texts(name, items, settings)
            items = [] if name == "calendar" else items  # a notice, not a list of items
        else:
            title, short, intro = (t.format(**fmt) for t in SECTION_TEXT[name])
        days = "left" if name == "due_soon" else "overdue" if name.startswith("overdue") else None
        sections.append({"kind": name, "title": title, "short": short, "intro": intro,
                         "entries": items, "days": days})
    env = environment()
    ctx = {"recipient": digest.name, "day": digest.day, "sections": sections,
           "acts_until": acts_until}
    subject = env.get_template("digest/subject.txt").render(**ctx)
    digest.subject = " ".join(p.strip() for p in subject.splitlines() if p.strip())
    digest.text = env.get_template("digest/body.txt").render(**ctx)
    digest.html = env.get_template("digest/body.html").render(**ctx)


# --- recording --------------------------------------------------------------------------

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
        rows.append({
            "key": digest.key, "source": "sweep", "day": day, "kind": digest.kind,
            "sections": ",".join(digest.sections), "recipient_id": digest.recipient_id,
            "recipient_name": digest.name, "recipient_email": digest.email, "cc": [],
            "subject": "", "body_text": "", "body_html": "",
            "status": "pending", "attempts": 0, "created_at": now,
        })
    table = OutboxMail.__table__
    stmt = (_insert(session, table).on_conflict_do_nothing(index_elements=["key"])
            .returning(table.c.id, table.c.key))
    inserted = session.execute(stmt, rows).all()
    # Codes only for the digests this sweep recorded: a digest another sweep recorded first
    # is that sweep's, and a code issued for it here would void the one in its email.
    # Rendered after the insert, in this transaction (nobody can claim a row before commit).
    attach_acts(session, [by_key[key] for _, key in inserted], settings, issue=True)
    for digest in plan.digests:
        render_digest(digest, settings)
    if inserted:
        session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            subject=bindparam("b_subject"), body_text=bindparam("b_text"),
            body_html=bindparam("b_html")), [
            {"b_id": mail_id, "b_subject": by_key[key].subject, "b_text": by_key[key].text,
             "b_html": by_key[key].html} for mail_id, key in inserted])
    line_rows = [
        {"outbox_id": mail_id, "item_id": line.item_id, "measure_position": line.measure_position,
         "rung": line.rung, "recipient_id": line.recipient_id, "deadline": line.deadline,
         "occurrence": line.occurrence, "days": line.days}
        for mail_id, key in inserted for line in by_key[key].lines
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
        select(Measure.item_id, Measure.position, Measure.text, Measure.deadline,
               Measure.deadline_text)
        .where(Measure.item_id.in_(ids)).order_by(Measure.item_id, Measure.position)
    ):
        measures[item_id].append({"number": position + 1, "text": text,
                                  "deadline": deadline or deadline_text, "light": None})
    return [
        {"code": item.code, "description": item.description, "department": item.department,
         "owner": names.get(item.owner_id, "—"), "leader": names.get(item.leader_id, "—"),
         "deadline": item.deadline or "长期坚持", "days_left": None, "days_overdue": None,
         "measures": measures[item.id], "light": None}
        for item in items
    ]


def queue_notice(session: Session, *, kind: str, to: Person, cc: list[Person] = (),
                 items: list[Item] = (), day: date, key: str, context: dict | None = None,
                 item_acts: list[dict] | None = None) -> int | None:
    """Record an event email (assigned / rejected / closed / delivery_failed) in the outbox.

    `item_acts`: each item's own link and code (rectify.acting's batched 交办), shown under it.
    Idempotent on `key`: the second call with the same key records nothing and returns None;
    otherwise returns the new row's id. Call it in the transaction of the event itself, so
    the notice exists exactly when the event does; `deliver_outbox` sends it.
    """
    from notifications.compose import render

    entries = _item_entries(session, list(items))
    for entry, act in zip(entries, item_acts or ()):  # one link and code per item (acting.batch)
        entry["act"] = act
    subject, text, html = render(kind, recipient=to.name, day=day, items=entries,
                                 **(context or {}))
    table = OutboxMail.__table__
    stmt = (
        _insert(session, table)
        .values(key=key, source="notice", day=day, kind=kind, sections=kind,
                recipient_id=to.id, recipient_name=to.name, recipient_email=to.email,
                cc=[[p.name, p.email] for p in cc if p.id != to.id],
                subject=subject, body_text=text, body_html=html, status="pending",
                attempts=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.id)
    )
    mail_id = session.execute(stmt).scalar()
    if mail_id is not None and items:
        session.execute(ReminderLine.__table__.insert(), [
            {"outbox_id": mail_id, "item_id": item.id, "measure_position": -1, "rung": kind,
             "recipient_id": to.id, "deadline": item.deadline, "occurrence": None, "days": None}
            for item in items
        ])
    session.flush()
    return mail_id


# --- claiming and marking -----------------------------------------------------------------

def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _waiting(now: datetime, since: datetime, lease: timedelta):
    return or_(
        # waiting, due, and not already tried by the sweep that started at `since`
        and_(OutboxMail.status.in_(("pending", "retry")),
             or_(OutboxMail.next_attempt_at.is_(None), OutboxMail.next_attempt_at <= now),
             or_(OutboxMail.claimed_at.is_(None), OutboxMail.claimed_at < since)),
        # claimed by a sweep that died (or is far slower than any sweep should be)
        and_(OutboxMail.status == "sending", OutboxMail.claimed_at < now - lease),
    )


def _claimable(now: datetime, since: datetime, lease: timedelta, *,
               sources: tuple[str, ...] | None = None, day: date | None = None,
               items: tuple[str, ...] | None = None):
    """Waiting rows of `sources` (None: all). With `day`, a sweep digest of an earlier day is
    never claimable: it is expired instead (expire_stale_digests), not replayed. With `items`
    (item codes), only emails about one of them (an item run sends its own item's notices;
    the sweep and the intake send the rest)."""
    cond = _waiting(now, since, lease)
    if sources is not None:
        cond = and_(cond, OutboxMail.source.in_(sources))
    if items is not None:
        cond = and_(cond, OutboxMail.id.in_(
            select(ReminderLine.outbox_id).join(Item, Item.id == ReminderLine.item_id)
            .where(Item.code.in_(items))))
    if day is not None:
        cond = and_(cond, or_(OutboxMail.source != "sweep", OutboxMail.day >= day))
    return cond


def expire_stale_digests(session: Session, day: date, *, now: datetime | None = None,
                         lease: timedelta = DEFAULT_LEASE) -> tuple[int, int]:
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
        .values(status="unknown",
                last_error="发送过程中断（催办进程意外退出），无法确认是否已送达；为免重复发送，不再补发，请人工核实")
        .execution_options(synchronize_session=False)
    ).rowcount
    return session.execute(
        update(OutboxMail)
        .where(stale, OutboxMail.status.in_(("pending", "retry")))
        .values(status="expired",  # the last delivery error is kept in front of the reason
                last_error=func.coalesce(OutboxMail.last_error + "；", "")
                + f"{day} 前未能投递的催办邮件不再补发（当日催办已包含仍到期或逾期的事项）")
        .execution_options(synchronize_session=False)
    ).rowcount, dead


def count_claimable(session: Session, *, now: datetime | None = None,
                    lease: timedelta = DEFAULT_LEASE, sources: tuple[str, ...] | None = None,
                    day: date | None = None, items: tuple[str, ...] | None = None) -> int:
    now = now or utcnow()
    return session.scalar(select(func.count()).select_from(OutboxMail).where(
        _claimable(now, now, lease, sources=sources, day=day, items=items))) or 0


def claim_pending(session: Session, worker: str, limit: int, *, now: datetime | None = None,
                  lease: timedelta = DEFAULT_LEASE, not_claimed_since: datetime | None = None,
                  sources: tuple[str, ...] | None = None, day: date | None = None,
                  items: tuple[str, ...] | None = None) -> list[OutboxMail]:
    """Claim up to `limit` rows for `worker`: status -> sending, with a lease.

    A SELECT that takes row locks with SKIP LOCKED on PostgreSQL (two sweeps never wait for,
    nor take, each other's rows), then a conditional UPDATE of exactly those rows; SQLite ignores FOR
    UPDATE and serialises writers, so the repeated condition alone makes the claim exclusive.
    The caller must commit before sending, so that other sweeps see the lease. `sources`,
    `day` and `items` as in _claimable.
    """
    now = now or utcnow()
    claimable = _claimable(now, not_claimed_since or now, lease, sources=sources, day=day,
                           items=items)
    # Two statements, not `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`:
    # PostgreSQL may plan that sub-SELECT as a SubPlan run again for each outbox row, and a
    # re-run skips the rows this very UPDATE has just changed and takes the next n, so one
    # claim took the whole outbox (61 rows for chunk=7: test_two_concurrent_sweeps… failed
    # once the rendered bodies grew, with codes and links, enough to change the plan).
    # The ids are fetched (and row-locked) first; the UPDATE then touches exactly those.
    candidates = list(session.scalars(
        select(OutboxMail.id).where(claimable).order_by(OutboxMail.id).limit(limit)
        .with_for_update(skip_locked=True)))
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
    return list(session.scalars(
        select(OutboxMail).where(OutboxMail.id.in_(claimed)).order_by(OutboxMail.id)
        .execution_options(populate_existing=True)
    ))


def renew_lease(session: Session, worker: str, ids, *, now: datetime | None = None) -> set[int]:
    """Extend `worker`'s lease on the rows `ids` it is still sending; returns those it holds.
    A row missing from the answer was taken over (its lease ran out) or changed by hand: the
    worker must not send it."""
    if not ids:
        return set()
    return set(session.scalars(
        update(OutboxMail)
        .where(OutboxMail.id.in_(list(ids)), OutboxMail.claimed_by == worker,
               OutboxMail.status == "sending")
        .values(claimed_at=now or utcnow())
        .returning(OutboxMail.id)
        .execution_options(synchronize_session=False)
    ))


def final_status(status: str, attempts_total: int) -> str:
    """A transient failure that has used up its attempts across sweeps becomes permanent."""
    if status == "retry" and attempts_total >= MAX_TOTAL_ATTEMPTS:
        return "failed"
    return status


def mark_results(session: Session, worker: str, outcomes: list[dict], *,
                 now: datetime | None = None) -> set[int]:
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
        params.append({"b_id": o["id"], "b_worker": worker, "b_status": final, "b_attempts": total,
                       "b_error": error, "b_message_id": o.get("message_id"),
                       "b_sent_at": now if final == "sent" else None,
                       "b_next": now + retry_delay(total) if final == "retry" else None})
        expected[o["id"]] = (final, total)
    stmt = (update(table)
            .where(table.c.id == bindparam("b_id"), table.c.claimed_by == bindparam("b_worker"),
                   table.c.status == "sending")
            .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
                    last_error=bindparam("b_error"), message_id=bindparam("b_message_id"),
                    sent_at=bindparam("b_sent_at"), next_attempt_at=bindparam("b_next")))
    result = session.execute(stmt, params)
    if session.get_bind().dialect.supports_sane_multi_rowcount and result.rowcount == len(params):
        return set()
    # Which rows were not ours any more? Exact: our UPDATE holds these rows (PostgreSQL row
    # locks, SQLite's write lock) until commit, so nobody can claim them in between.
    recorded = {
        row.id for row in session.execute(
            select(table.c.id, table.c.status, table.c.attempts)
            .where(table.c.id.in_(list(expected)), table.c.claimed_by == worker))
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
        select(OutboxMail.id, OutboxMail.recipient_name, OutboxMail.recipient_email,
               OutboxMail.kind, OutboxMail.status, OutboxMail.last_error)
        .where(OutboxMail.status.in_(("failed", "unknown")),
               OutboxMail.failure_reported_at.is_(None), OutboxMail.kind != "delivery_failed")
        .order_by(OutboxMail.id)
    ).all()
    if not rows:
        return 0
    secretaries = session.scalars(select(Person).where(Person.role == Role.secretary)
                                  .order_by(Person.id)).all()
    if not secretaries:
        log.warning("有%d封邮件投递失败，但人员名单中没有秘书，无法发送失败通知", len(rows))
        return 0
    ids = [r.id for r in rows]
    marked = session.execute(
        update(OutboxMail).where(OutboxMail.id.in_(ids), OutboxMail.failure_reported_at.is_(None))
        .values(failure_reported_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if marked != len(ids):
        raise ConcurrentChange("投递失败记录刚被另一催办进程处理，请稍后重试")
    failures = [{"recipient": r.recipient_name, "email": r.recipient_email, "kind": r.kind,
                 "error": (r.last_error or "") if r.status == "failed"
                 else f"结果未知：{r.last_error or ''}"} for r in rows]
    queued = 0
    for secretary in secretaries:
        if queue_notice(session, kind="delivery_failed", to=secretary, day=day,
                        key=f"delivery_failed:{secretary.id}:{ids[0]}-{ids[-1]}",
                        context={"failures": failures}) is not None:
            queued += 1
    return queued

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
(four for the ladder, at most six more for those sections); recording (rectify.outbox) is two
bulk INSERTs, three SELECTs and one INSERT (plus an UPDATE per 500) for the digests' codes, and
one bulk UPDATE of the rendered bodies. The database's unique constraints
(models/reminders.py) are the guard against sending twice; the planning query only avoids
planning what they would refuse.

This module is the planning. What a person reads is rendered in rectify.digest_render (and each
item's link and code in rectify.digest_acts); the outbox, where digests and event notices are
recorded, is rectify.outbox; claiming, leases and marking for delivery are rectify.outbox_claims.
They were one module of 750 lines; record_reminders and RETRY_NOTE are still re-exported at
the end for their callers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Item, Measure, OutboxMail, Person, ReminderLine, Role, Status
from rectify import measures as rules
from rectify.digest_sections import extra_lines
from rectify.errors import RectifyError
from rectify.workdays import WorkCalendar

log = logging.getLogger("rectify.reminders")

# Items in these states get deadline reminders (see the module docstring for why).
REMINDED_STATUSES = (Status.new, Status.in_progress)

# Sections of a digest, in the order a person reads them.
SECTION_ORDER = (
    "due_today",
    "due_soon",
    "overdue_owner",
    "report",
    "due_today_cc",
    "overdue_leader",
    "overdue_secretary",
    "recheck_due",
    "calendar",
)
ONCE_RUNGS_PREFIX = ("due_soon_", "due_today")  # recorded once per deadline; the rest daily


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
    raise FutureDay(
        f"{day} {when}今天（{today}，北京时间），只能发送当天的催办；"
        "如需查看该日将发送的邮件请用试运行（--dry-run）"
    )


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
    if (
        overdue >= settings.escalate_leader_after_days
        and row.leader_id is not None
        and row.leader_id != row.owner_id
    ):
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
        _Row(*r)
        for r in session.execute(
            select(
                Item.id,
                Item.code,
                Item.description,
                Item.department,
                Item.owner_id,
                Item.leader_id,
                Measure.position,
                Measure.text,
                Measure.deadline,
                Item.status,
            )
            .join(Measure, Measure.item_id == Item.id)
            .where(
                Item.status.in_(REMINDED_STATUSES),
                Item.owner_id.is_not(None),
                Measure.deadline.is_not(None),
                Measure.done_on.is_(None),
                Measure.deadline <= horizon,
            )
            .order_by(Measure.deadline, Item.code, Measure.position)
        )
    ]
    # 2. People (names and addresses are copied onto the outbox rows).
    people = {
        pid: (name, email, role)
        for pid, name, email, role in session.execute(
            select(Person.id, Person.name, Person.email, Person.role)
        )
    }
    secretaries = sorted(pid for pid, (_, _, role) in people.items() if role is Role.secretary)
    # 3. What is already recorded for these deadlines/today: the unique constraint's keys.
    recorded = {
        tuple(r)
        for r in session.execute(
            select(
                ReminderLine.item_id,
                ReminderLine.rung,
                ReminderLine.recipient_id,
                ReminderLine.deadline,
                ReminderLine.occurrence,
            ).where(ReminderLine.occurrence.between(day, horizon))
        )
    }
    # 4. Who already has today's digest (a re-run of the day sends them nothing new).
    mailed_today = set(
        session.scalars(
            select(OutboxMail.recipient_id).where(OutboxMail.source == "sweep", OutboxMail.day == day)
        )
    )

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
                f"sweep:{day.isoformat()}:{recipient_id}", day, recipient_id, name, email
            )
        return digest

    for row in rows:
        for rung, recipient_id, days in _rungs(row, day, calendar, settings, secretaries):
            occurrence = row.deadline if is_once_rung(rung) else day
            line = PlannedLine(
                row.item_id, row.code, row.position, rung, recipient_id, row.deadline, occurrence, days
            )
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
                    "code": row.code,
                    "description": row.description,
                    "department": row.department,
                    "owner": people[row.owner_id][0],
                    "leader": people[row.leader_id][0] if row.leader_id else "—",
                    "deadline": shown,
                    "days_left": days,
                    "days_overdue": days,
                    "measures": [],
                    "light": light,
                }
                digest.sections.setdefault(section, []).append(entry)
            entry["measures"].append(
                {"number": row.position + 1, "text": row.text, "deadline": row.deadline, "light": light}
            )
            entry["light"] = rules.worst(entry["light"], light)
            entry["days_overdue"] = max(entry["days_overdue"], days)
            entry["days_left"] = min(entry["days_left"], days)
            if rung.startswith(("due_soon", "due_today", "overdue_owner")):
                seen = overview.setdefault(
                    row.item_id,
                    {
                        "code": row.code,
                        "owner": people[row.owner_id][0],
                        "leader": people[row.leader_id][0] if row.leader_id else "—",
                        "deadline": shown,
                        "rung": rung,
                        "days": days,
                        "light": light,
                        "measures": [],
                    },
                )
                seen["light"] = rules.worst(seen["light"], light)
                if row.position + 1 not in seen["measures"]:
                    seen["measures"].append(row.position + 1)
    # 定期报送, 回头看 and the calendar notice: sections of the same digests.
    names = {pid: p[0] for pid, p in people.items()}
    for extra in extra_lines(session, day, calendar, settings, names, secretaries):
        line = (
            None
            if extra.item_id is None
            else PlannedLine(
                extra.item_id,
                extra.code,
                -1,
                extra.rung,
                extra.recipient_id,
                extra.deadline,
                extra.occurrence,
                extra.days,
            )
        )
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


# Names kept here for their many callers (record_reminders) and for flows/deadline_watch.py
# (RETRY_NOTE); everything else is imported from its own module.
from rectify.outbox import record_reminders  # noqa: E402, F401
from rectify.outbox_claims import RETRY_NOTE  # noqa: E402, F401

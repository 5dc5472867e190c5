"""The figures of the status report (整改工作情况报告), compiled from the ledger as of a date.

"As of" replays the audit trail: an item's status on a day is the `to_status` of its last audit
record whose business day (`AuditRecord.day`) is on or before that day; an item without such a
record had not been imported yet. The deadline is replayed the same way from the importer's
"update" records (their details hold the old and new deadline), so a deadline moved later does
not rewrite history. Measures are shown as they stand now.

Definitions (what the office means by each figure):
- 共查摆问题 N: every item imported on or before the date.
- 已完成整改 m: items closed (已销号) on that date.
- 整改率 = m / N: offices count 长期坚持 items in the denominator ("共查摆问题25个，已完成整改22个，
  整改率88%，其余3个需长期坚持"), so the rate only reaches 100% when nothing is left open.
- 正在推进 k: open items that are not 长期坚持 (every open status of models.status.Status, so a
  new open status such as 待领导审核 counts here without a change); 逾期 j of them have a deadline before the date.
  长期坚持 l: never overdue. N = m + k + l.
- A measure is overdue on its own (已超期N个工作日) when its deadline is before the date and its
  item is in progress, even if the item's latest deadline is still ahead.
- Stalled (推进滞缓): 待交办/整改中/长期坚持 items without any recorded activity (audit record or
  progress note) for `stalled_after_days` calendar days, not already listed as overdue; 待领导审核
  and 待审核 items wait on the leader or the secretary, not on the owner, so they are not
  counted as stalled.

Set-based: one query each for the replayed statuses, the last activity (audit, notes), deadline
changes after the date, the items with their people, and the measures. Fine for 10,000 items.
The values it fills (lines, tallies, the Report) and their wording are rectify.report.contents'.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from models import AuditRecord, Item, Measure, Person, ProgressNote, Status
from rectify.measures import is_overdue, open_deadlines_as_of
from rectify.report.contents import Breakdown, ItemLine, LeaderGroup, MeasureLine, Report, Tally
from rectify.report.supplement import supplementary_figures
from rectify.report.wording import Office
from rectify.workdays import WorkCalendar

NO_LEADER = "未明确责任领导"
NO_OWNER = "未明确责任人"
UNSET = "未填写"
# Customary order of the categories in the summary sentence; others follow by count.
CATEGORY_ORDER = ["班子问题", "个人问题", "服务对象反映问题"]
# 正在推进: every open status but 长期坚持, derived from the enum (待领导审核 included without a
# change here); 待领导审核 and 待审核 wait on the leader or the secretary, not the owner, so they
# are never "stalled".
IN_PROGRESS = tuple(s for s in Status if s.is_open and s is not Status.ongoing)
_STALLABLE = tuple(s for s in Status if s.is_open and s not in (Status.leader_review, Status.submitted))


def status_as_of(session: Session, as_of: date) -> dict[int, str]:
    """Each item's last status-bearing audit record on or before as_of (a window function:
    SQLite ≥ 3.25 and PostgreSQL both have ROW_NUMBER)."""
    ranked = (
        select(
            AuditRecord.item_id.label("item_id"),
            AuditRecord.to_status.label("status"),
            func.row_number()
            .over(
                partition_by=AuditRecord.item_id,
                order_by=(AuditRecord.day.desc(), AuditRecord.id.desc()),
            )
            .label("rn"),
        )
        .where(AuditRecord.day <= as_of, AuditRecord.to_status.is_not(None))
        .subquery()
    )
    return dict(session.execute(select(ranked.c.item_id, ranked.c.status).where(ranked.c.rn == 1)).all())


def _last_activity(session: Session, as_of: date) -> dict[int, date]:
    """The latest day with an audit record or a progress note, per item, up to as_of."""
    last: dict[int, date] = {}
    for model in (AuditRecord, ProgressNote):
        for item_id, day in session.execute(
            select(model.item_id, func.max(model.day)).where(model.day <= as_of).group_by(model.item_id)
        ):
            if item_id not in last or day > last[item_id]:
                last[item_id] = day
    return last


def deadlines_before_changes(session: Session, as_of: date) -> dict[int, date | None]:
    """For items whose deadline was changed by a re-import after as_of: the deadline they had
    on as_of (the old value of the first such change). Usually a handful of rows."""
    rows = session.execute(
        select(AuditRecord.item_id, AuditRecord.details)
        .where(AuditRecord.action == "update", AuditRecord.day > as_of)
        .order_by(AuditRecord.day, AuditRecord.id)
    )
    found: dict[int, date | None] = {}
    for item_id, details in rows:
        change = ((details or {}).get("changes") or {}).get("deadline")
        if item_id not in found and change:
            found[item_id] = date.fromisoformat(change[0]) if change[0] else None
    return found


def _load_items(session: Session, as_of: date, calendar: WorkCalendar) -> list[ItemLine]:
    # Separate aggregate queries joined here by id: joining them as subqueries makes SQLite's
    # planner loop over them per item (seconds at 10,000 items).
    statuses = status_as_of(session, as_of)
    activity = _last_activity(session, as_of)
    old_deadlines = deadlines_before_changes(session, as_of)
    open_due = open_deadlines_as_of(session, as_of)  # overdue is per unfinished measure
    owner, leader = aliased(Person), aliased(Person)
    stmt = (
        select(
            Item.id,
            Item.code,
            Item.source,
            Item.category,
            Item.description,
            Item.department,
            leader.name,
            owner.name,
            Item.deadline,
        )
        .outerjoin(owner, Item.owner_id == owner.id)
        .outerjoin(leader, Item.leader_id == leader.id)
        .order_by(Item.code)
    )
    items = []
    for id_, code, source, category, desc, dept, leader_name, owner_name, deadline in session.execute(stmt):
        st = statuses.get(id_)
        if st is None:  # no audit record yet on as_of: not imported yet
            continue
        st = Status(st)
        deadline = old_deadlines.get(id_, deadline)
        last = activity[id_]
        line = ItemLine(
            id_,
            code,
            source or UNSET,
            category or UNSET,
            desc,
            dept or UNSET,
            leader_name or NO_LEADER,
            owner_name or NO_OWNER,
            st,
            deadline,
            last,
            idle_days=(as_of - last).days,
        )
        due = open_due.get(id_)
        if is_overdue(st, due, as_of):
            # Derived, never stored; counted in working days like the reminder ladder.
            line.overdue, line.overdue_since = True, due
            line.overdue_workdays = calendar.workdays_between(due, as_of)
        items.append(line)
    return items


def _attach_measures(session: Session, items: list[ItemLine], as_of: date, calendar: WorkCalendar) -> int:
    """Measures of every listed item in one query (ids as a join, not a huge IN list); a
    measure unfinished on the date and past its own deadline, on an item in progress, is marked
    with the working days (its item is then overdue too: rectify.measures' rule)."""
    by_id = {i.id: i for i in items}
    if not by_id:
        return 0
    rows = session.execute(
        select(
            Measure.item_id, Measure.text, Measure.deadline_text, Measure.deadline, Measure.done_on
        ).order_by(Measure.item_id, Measure.position)
    )
    n = 0
    for item_id, text, deadline_text, due, done_on in rows:
        item = by_id.get(item_id)
        if item is not None:
            done = done_on if done_on is not None and done_on <= as_of else None
            line = MeasureLine(text, deadline_text, due, done_on=done)
            if done is None and due is not None and due < as_of and item.status in IN_PROGRESS:
                line.overdue = True
                line.overdue_workdays = calendar.workdays_between(due, as_of)
            item.measures.append(line)
            n += 1
    return n


def _tallies(items: list[ItemLine], key) -> list[Tally]:
    tallies: dict[str, Tally] = {}
    for item in items:
        name = key(item)
        tallies.setdefault(name, Tally(name)).add(item)
    return sorted(tallies.values(), key=lambda t: (-t.total, t.name))


def _category_order(tallies: list[Tally]) -> list[Tally]:
    rank = {name: i for i, name in enumerate(CATEGORY_ORDER)}
    return sorted(tallies, key=lambda t: (rank.get(t.name, len(rank)), -t.total, t.name))


def compile_report(
    session: Session,
    as_of: date,
    calendar: WorkCalendar,
    stalled_after_days: int = 30,
    *,
    office: Office | None = None,
) -> Report:
    items = _load_items(session, as_of, calendar)
    measure_count = _attach_measures(session, items, as_of, calendar)

    summary = Tally("合计")
    for item in items:
        summary.add(item)
    categories = _category_order(_tallies(items, lambda i: i.category))
    breakdowns = [
        Breakdown("按问题类别", "问题类别", categories),
        Breakdown("按问题来源", "问题来源", _tallies(items, lambda i: i.source)),
        Breakdown("按责任部门", "责任部门", _tallies(items, lambda i: i.department)),
        Breakdown("按责任领导", "责任领导", _tallies(items, lambda i: i.leader)),
    ]
    overdue = sorted((i for i in items if i.overdue), key=lambda i: (i.overdue_since, i.code))
    stalled = sorted(
        (i for i in items if i.status in _STALLABLE and not i.overdue and i.idle_days >= stalled_after_days),
        key=lambda i: (-i.idle_days, i.code),
    )
    groups: dict[str, list[ItemLine]] = defaultdict(list)
    for item in items:
        if item.status is not Status.closed:
            groups[item.leader].append(item)
    for group in groups.values():  # overdue first, then by deadline (长期坚持 last)
        group.sort(key=lambda i: (not i.overdue, i.deadline or date.max, i.code))
    next_steps = [
        LeaderGroup(name, groups[name])
        for name in sorted(groups, key=lambda n: (n == NO_LEADER, -len(groups[n]), n))
    ]
    leaders = Counter(i.leader for i in items if i.leader != NO_LEADER)
    return Report(
        as_of=as_of,
        stalled_after_days=stalled_after_days,
        summary=summary,
        categories=categories,
        measure_count=measure_count,
        leader_count=len(leaders),
        breakdowns=breakdowns,
        overdue=overdue,
        stalled=stalled,
        next_steps=next_steps,
        office=office or Office(),
        supplement=supplementary_figures(session, as_of, items),
    )

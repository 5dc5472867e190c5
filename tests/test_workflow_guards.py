"""What guards the moves of the transition table (tests/test_workflow.py has the table and the role
rules), on SQLite and PostgreSQL: concurrent changes (the status-guarded UPDATEs: a concurrent
change wins), the append-only audit trail, control characters, business days out of range or
running backwards, and only the diagram's moves.
"""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import event, select, update

from models import Evidence, Item, ProgressNote, Status
from models.db import get_engine, session_factory
from rectify import workflow
from rectify.errors import ConcurrentChange, InvalidInput, InvalidTransition
from ledger_helpers import (
    DAY,
    add_item,
    add_people,
    audit_rows,
    dump,
    people_by_name as people,
    refused,
    states,
)


@pytest.fixture
def ledger(session_maker):
    """People committed; returns a function that puts item ZG-1 in a given state."""
    return states(session_maker)


# --- concurrency -----------------------------------------------------------------------


def test_conditional_update_loses_to_a_concurrent_change(db_url, session_maker, ledger):
    ledger(Status.submitted)
    with session_maker() as a:
        item = a.scalars(select(Item)).one()  # A read "submitted" ...
        with session_maker.begin() as b:  # ... B approves and commits first ...
            workflow.approve(b, "ZG-1", people(b)["陈静"], DAY, comment="同意")
        after_b = dump(db_url)
        with pytest.raises(ConcurrentChange, match="刚被他人修改"):  # ... A's guarded UPDATE matches no row
            workflow._move(a, item, "reject", "王芳", DAY, "退回")
        a.commit()
    assert dump(db_url) == after_b


def test_a_stale_session_reads_the_current_state_under_the_lock(db_url, session_maker, ledger):
    """get_item(lock=True) must not trust what the session read earlier."""
    ledger(Status.submitted)
    with session_maker() as a:
        a.scalars(select(Item)).one()  # the identity map now holds "submitted"
        with session_maker.begin() as b:
            workflow.approve(b, "ZG-1", people(b)["陈静"], DAY, comment="同意")
        after_b = dump(db_url)
        with pytest.raises(InvalidTransition, match="已销号"):
            workflow.reject(a, "ZG-1", people(a)["王芳"], DAY, comment="退回")
        a.commit()
    assert dump(db_url) == after_b


def test_race_between_read_and_write_sqlite(sqlite_url):
    """Another writer commits between our SELECT and our UPDATE: the UPDATE loses, audits nothing."""
    _race(
        sqlite_url,
        lambda s, p: workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成"),
        to=Status.ongoing,
    )


# --- the audit trail -------------------------------------------------------------------


@pytest.mark.usefixtures("single_review")
def test_audit_trail_is_append_only_through_a_whole_life(db_url, session_maker, ledger):
    ledger(Status.new)
    steps = [
        lambda s, p: workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["刘洋"]),
        lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="方案起草"),
        lambda s, p: workflow.submit(
            s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成", evidence=["a.pdf"]
        ),
        lambda s, p: workflow.reject(s, "ZG-1", p["陈静"], DAY, comment="佐证不足"),
        lambda s, p: workflow.submit(
            s, "ZG-1", p["周建国"], DAY, completes=[1], summary="补充材料", evidence=["b.pdf"]
        ),
        lambda s, p: workflow.approve(s, "ZG-1", p["陈静"], DAY, comment="同意"),
        lambda s, p: workflow.reopen(s, "ZG-1", p["王芳"], DAY, reason="回头看反弹"),
        lambda s, p: workflow.mark_ongoing(s, "ZG-1", p["陈静"], DAY),
    ]
    previous: list[tuple] = []
    for step in steps:
        with session_maker.begin() as s:
            step(s, people(s))
        rows = dump(db_url)["audit_records"]
        assert len(rows) == len(previous) + 1
        assert rows[: len(previous)] == previous  # earlier records never change
        previous = rows
    with session_maker() as s:
        trail = [(r.action, r.actor, r.from_status, r.to_status) for r in audit_rows(s)]
    assert trail == [
        ("assign", "陈静", "new", "in_progress"),
        ("progress", "刘洋", None, None),
        ("submit", "刘洋", "in_progress", "submitted"),
        ("reject", "陈静", "submitted", "in_progress"),
        ("submit", "周建国", "in_progress", "submitted"),
        ("approve", "陈静", "submitted", "closed"),
        ("reopen", "王芳", "closed", "in_progress"),
        ("mark_ongoing", "陈静", "in_progress", "ongoing"),
    ]


@pytest.mark.usefixtures("single_review")
def test_workflow_never_updates_or_deletes_audit_rows(session_maker, ledger):
    """Append-only by construction: no statement touching audit_records is ever an UPDATE/DELETE."""
    ledger(Status.new)
    seen: list[str] = []
    engine = session_maker.kw["bind"]

    def watch(conn, cursor, statement, params, context, executemany):
        if "audit_records" in statement:
            seen.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", watch)
    try:
        with session_maker.begin() as s:
            p = people(s)
            workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["刘洋"])
            workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成")
            workflow.approve(s, "ZG-1", p["陈静"], DAY)
            workflow.reopen(s, "ZG-1", p["陈静"], DAY, reason="反弹")
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert seen and set(seen) <= {"INSERT", "SELECT"}


@pytest.fixture
def make(session_maker):
    with session_maker.begin() as s:
        add_people(s)

    def make(status: Status):
        with session_maker.begin() as s:
            p = people(s)
            add_item(
                s,
                "ZG-1",
                status,
                owner=p["刘洋"],
                leader=p["周建国"],
                submitted_by=p["刘洋"] if status is Status.submitted else None,
            )

    return make


# --- control characters -----------------------------------------------------------

ESC = "\x1b[2J\x1b[31m"
HOSTILE = [  # (start state, call with the hostile text, the field's name in the message)
    (
        Status.in_progress,
        lambda s, p, t: workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="进展" + t),
        "进展说明",
    ),
    (
        Status.in_progress,
        lambda s, p, t: workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成" + t),
        "整改情况说明",
    ),
    (
        Status.in_progress,
        lambda s, p, t: workflow.submit(
            s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成", evidence=["a.pdf" + t]
        ),
        "佐证材料",
    ),
    (
        Status.submitted,
        lambda s, p, t: workflow.approve(s, "ZG-1", p["陈静"], DAY, comment="同意" + t),
        "审核意见",
    ),
    (
        Status.submitted,
        lambda s, p, t: workflow.reject(s, "ZG-1", p["陈静"], DAY, comment="退回" + t),
        "退回意见",
    ),
    (
        Status.closed,
        lambda s, p, t: workflow.reopen(s, "ZG-1", p["陈静"], DAY, reason="反弹" + t),
        "回头看原因",
    ),
    (
        Status.in_progress,
        lambda s, p, t: workflow.mark_ongoing(s, "ZG-1", p["陈静"], DAY, comment="常态" + t),
        "说明",
    ),
    (
        Status.new,
        lambda s, p, t: workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["刘洋"], department="综合" + t),
        "责任部门",
    ),
    (
        Status.in_progress,
        lambda s, p, t: workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["孙丽"], department="综合" + t),
        "责任部门",
    ),
]


@pytest.mark.parametrize("bad", [ESC, "\x00", "\x7f", "\x9b", "\u2028"], ids=repr)
@pytest.mark.parametrize(
    "start,call,what", HOSTILE, ids=lambda v: getattr(v, "value", v if isinstance(v, str) else "")
)
def test_control_characters_are_refused(db_url, session_maker, make, start, call, what, bad):
    make(start)
    # inside the text: at either end, strip() would take a U+2028 away before the check
    line = refused(db_url, session_maker, lambda s, p: call(s, p, bad + "尾"), InvalidInput, "控制字符")
    assert line.startswith(what) and f"U+{ord(bad[0]):04X}" in line


@pytest.mark.parametrize(
    "start,call,what",
    [h for h in HOSTILE if h[2] in ("佐证材料", "责任部门")],
    ids=lambda v: getattr(v, "value", v if isinstance(v, str) else ""),
)
@pytest.mark.parametrize("bad", ["\n", "\t"], ids=repr)
def test_short_fields_refuse_line_breaks_and_tabs(db_url, session_maker, make, start, call, what, bad):
    make(start)
    refused(db_url, session_maker, lambda s, p: call(s, p, bad + "x"), InvalidInput, what)


def test_multi_line_text_keeps_line_breaks_and_tabs(session_maker, make):
    make(Status.in_progress)
    with session_maker.begin() as s:
        p = people(s)
        workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="一、方案起草\r\n\t二、征求意见")
        workflow.submit(
            s,
            "ZG-1",
            p["刘洋"],
            DAY,
            completes=[1],
            summary="已完成：\n1. 印发\n2. 落实",
            evidence=["docs/方案.pdf"],
        )
    with session_maker() as s:
        assert s.scalars(select(ProgressNote.note)).one() == "一、方案起草\n\t二、征求意见"
        assert [r.comment for r in audit_rows(s)] == [
            "一、方案起草\n\t二、征求意见",
            "已完成：\n1. 印发\n2. 落实",
        ]
        assert s.scalars(select(Evidence.ref)).all() == ["docs/方案.pdf"]


# --- business days ------------------------------------------------------------------


@pytest.mark.parametrize("day", [date(1999, 12, 31), date(2100, 1, 1), date(9999, 12, 31), date(1, 1, 1)])
def test_a_day_outside_the_window_is_refused(db_url, session_maker, make, day):
    make(Status.in_progress)
    line = refused(
        db_url,
        session_maker,
        lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], day, note="进展"),
        InvalidInput,
        "超出有效范围",
    )
    assert day.isoformat() in line and "2000-01-01" in line and "2099-12-31" in line


@pytest.mark.usefixtures("single_review")
def test_the_trail_never_runs_backwards(db_url, session_maker, make):
    """Review's repro: submitted on 11-05, approved "on 10-01" would close it before it was
    submitted and make the as-of report say 100% before the register existed."""
    make(Status.in_progress)
    with session_maker.begin() as s:
        workflow.submit(s, "ZG-1", people(s)["刘洋"], date(2026, 11, 5), completes=[1], summary="完成")
    line = refused(
        db_url,
        session_maker,
        lambda s, p: workflow.approve(s, "ZG-1", p["陈静"], date(2026, 10, 1), comment="同意"),
        InvalidTransition,
        "不能倒填",
    )
    assert "2026-10-01" in line and "2026-11-05" in line
    refused(
        db_url,
        session_maker,  # the rejection path and a reassignment are dated too
        lambda s, p: workflow.reject(s, "ZG-1", p["陈静"], date(2026, 11, 4), comment="退回"),
        InvalidTransition,
        "2026-11-05",
    )
    refused(
        db_url,
        session_maker,
        lambda s, p: workflow.assign(s, "ZG-1", p["陈静"], date(2026, 11, 4), owner=p["孙丽"]),
        InvalidTransition,
        "2026-11-05",
    )
    with session_maker.begin() as s:  # the same day, or later, is fine
        workflow.approve(s, "ZG-1", people(s)["陈静"], date(2026, 11, 5), comment="同意")
    with session_maker() as s:
        assert s.scalars(select(Item)).one().closed_on == date(2026, 11, 5)


def test_progress_is_dated_after_the_last_record_too(db_url, session_maker, make):
    make(Status.in_progress)
    with session_maker.begin() as s:
        workflow.add_progress(s, "ZG-1", people(s)["刘洋"], date(2026, 11, 20), note="一半")
    refused(
        db_url,
        session_maker,
        lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], date(2026, 11, 19), note="补记"),
        InvalidTransition,
        "2026-11-19.*2026-11-20",
    )


# --- the diagram's moves only ---------------------------------------------------------


def test_an_ongoing_item_cannot_be_submitted_nor_reach_in_progress_by_rejection(db_url, session_maker, make):
    make(Status.ongoing)
    line = refused(
        db_url,
        session_maker,
        lambda s, p: workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成"),
        InvalidTransition,
        "长期坚持",
    )
    assert "仅限：整改中" in line
    assert set(workflow.TRANSITIONS["submit"]) == {Status.in_progress}
    # No path in the table leads from 长期坚持 anywhere: it is left only by a re-import (19).
    assert not any(Status.ongoing in moves for moves in workflow.TRANSITIONS.values())


# --- guarded UPDATEs -------------------------------------------------------------------


def _race(url: str, call, to: Status = Status.closed) -> None:
    """Another connection moves the item to `to` (closes it) between our SELECT and our first
    UPDATE, as another process would."""
    maker = session_factory(url)
    with maker.begin() as s:
        p = add_people(s)
        add_item(s, "ZG-1", Status.in_progress, owner=p["刘洋"], leader=p["周建国"])
    engine = get_engine(url)
    fired = threading.Event()

    def meddle(conn, cursor, statement, params, context, executemany):
        if statement.startswith("UPDATE items") and not fired.is_set():
            fired.set()
            with engine.connect() as other:
                other.execute(update(Item).values(status=to))
                other.commit()

    event.listen(engine, "before_cursor_execute", meddle)
    try:
        with maker() as s:
            with pytest.raises(ConcurrentChange, match="刚被他人修改"):
                call(s, people(s))
            s.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", meddle)
    assert fired.is_set()
    with maker() as s:
        item = s.scalars(select(Item)).one()
        assert item.status is to and item.owner.name == "刘洋"
        assert audit_rows(s) == [] and s.scalars(select(ProgressNote)).all() == []


def test_reassign_loses_to_a_concurrent_closure(sqlite_url):
    _race(sqlite_url, lambda s, p: workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["孙丽"]))


def test_progress_loses_to_a_concurrent_closure(sqlite_url):
    _race(sqlite_url, lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="进展"))


def test_progress_never_moves_last_progress_backwards(session_maker, make):
    make(Status.in_progress)
    with session_maker.begin() as s:
        workflow.add_progress(s, "ZG-1", people(s)["刘洋"], date(2026, 11, 20), note="一")
        s.execute(update(Item).values(last_progress_on=date(2026, 11, 25)))  # e.g. a register note
    with session_maker.begin() as s:
        workflow.add_progress(s, "ZG-1", people(s)["刘洋"], date(2026, 11, 21), note="二")
    with session_maker() as s:
        assert s.scalars(select(Item)).one().last_progress_on == date(2026, 11, 25)

"""The transition table, the role rules and the audit trail, on SQLite and PostgreSQL.

Every (action, from-state) pair is tried: allowed moves change the status and write exactly one
audit record in the same transaction; forbidden ones raise and leave every table as it was.
Also the guards around the moves: control characters, business days out of range or running
backwards, submission only from 整改中, and the status-guarded UPDATEs (a concurrent change wins).
"""

from __future__ import annotations

import itertools
import threading
from datetime import date

import pytest
from sqlalchemy import event, select, update

from models import Evidence, Item, Person, ProgressNote, Status
from models.db import get_engine, session_factory
from rectify import workflow
from rectify.errors import ConcurrentChange, Forbidden, InvalidInput, InvalidTransition, NotFound
from ledger_helpers import DAY, add_item, add_people, audit_rows, dump, refused

# Written out here, not read from workflow.TRANSITIONS, so a change to the table must be
# deliberate: the test compares the two.
ALLOWED = {
    ("assign", Status.new): Status.in_progress,
    ("submit", Status.in_progress): Status.leader_review,  # only from 整改中 (DOMAIN.md's diagram)
    ("signoff", Status.leader_review): Status.submitted,
    ("approve", Status.submitted): Status.closed,
    ("reject", Status.leader_review): Status.in_progress,
    ("reject", Status.submitted): Status.in_progress,
    ("reopen", Status.closed): Status.in_progress,
    ("mark_ongoing", Status.new): Status.ongoing,
    ("mark_ongoing", Status.in_progress): Status.ongoing,
    ("mark_ongoing", Status.leader_review): Status.ongoing,
    ("mark_ongoing", Status.submitted): Status.ongoing,
}
MOVES = ["assign", "submit", "signoff", "approve", "reject", "reopen", "mark_ongoing"]

# What each action is called with by the person entitled to it, and the comment it audits.
CALLS = {
    "assign": (lambda s, p: workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["刘洋"]), "陈静", ""),
    "submit": (lambda s, p: workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="已完成整改",
                                            evidence=["docs/方案.pdf", "https://oa.example/1"]),
               "刘洋", "已完成整改"),
    "signoff": (lambda s, p: workflow.signoff(s, "ZG-1", p["周建国"], DAY, comment="同意"), "周建国", "同意"),
    "approve": (lambda s, p: workflow.approve(s, "ZG-1", p["陈静"], DAY, comment="同意销号"), "陈静", "同意销号"),
    "reject": (lambda s, p: workflow.reject(s, "ZG-1", p["陈静"], DAY, comment="佐证不足"), "陈静", "佐证不足"),
    # at 待领导审核 the leader is the one who may send it back
    "reject_leader": (lambda s, p: workflow.reject(s, "ZG-1", p["周建国"], DAY, comment="佐证不足"),
                      "周建国", "佐证不足"),
    "reopen": (lambda s, p: workflow.reopen(s, "ZG-1", p["陈静"], DAY, reason="回头看发现反弹"), "陈静", "回头看发现反弹"),
    "mark_ongoing": (lambda s, p: workflow.mark_ongoing(s, "ZG-1", p["陈静"], DAY, comment="常态化"), "陈静", "常态化"),
    "progress": (lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="完成一半", percent=50),
                 "刘洋", "完成一半"),
}


@pytest.fixture
def ledger(session_maker):
    """People committed; returns a function that puts item ZG-1 in a given state."""
    with session_maker.begin() as s:
        add_people(s)

    def make(status: Status, code: str = "ZG-1", owner="刘洋", leader="周建国", submitted_by="刘洋"):
        with session_maker.begin() as s:
            p = people(s)
            add_item(s, code, status, owner=p[owner], leader=p[leader],
                     submitted_by=p[submitted_by] if status in (Status.leader_review, Status.submitted)
                     else None)

    return make


def people(session) -> dict[str, Person]:
    return {p.name: p for p in session.scalars(select(Person))}


def test_table_is_the_documented_one():
    table = {(a, f): t for a, moves in workflow.TRANSITIONS.items() for f, t in moves.items()}
    assert table == ALLOWED


# Assigning an already assigned open item is a reassign, tested on its own below.
PAIRS = [(a, f) for a, f in itertools.product(MOVES, Status)
         if not (a == "assign" and f in (Status.in_progress, Status.leader_review, Status.submitted,
                                       Status.ongoing))]


@pytest.mark.parametrize("action,start", PAIRS, ids=lambda v: getattr(v, "value", v))
def test_every_move(db_url, session_maker, ledger, action, start):
    ledger(start)
    before = dump(db_url)
    call, actor, comment = CALLS["reject_leader" if (action, start) == (
        "reject", Status.leader_review) else action]
    target = ALLOWED.get((action, start))
    with session_maker() as s:
        p = people(s)
        if target is None:
            with pytest.raises(InvalidTransition) as exc:
                call(s, p)
            assert start.label in str(exc.value)
            s.commit()  # even a caller that commits after the refusal must find nothing changed
            assert dump(db_url) == before
            return
        call(s, p)
        # Flushed, not committed: a rollback takes the move and its audit record away together.
        s.rollback()
        assert dump(db_url) == before
        call(s, p)
        s.commit()
    with session_maker() as s:
        item = s.scalars(select(Item).where(Item.code == "ZG-1")).one()
        assert item.status is target
        (rec,) = audit_rows(s)
        assert (rec.actor, rec.day, rec.action, rec.from_status, rec.to_status, rec.comment) == (
            actor, DAY, action, start.value, target.value, comment)
        assert rec.at is not None
        if action == "approve":
            assert item.closed_on == DAY
        if action == "submit":
            assert item.submitted_by_id == p["刘洋"].id
            assert [e.ref for e in s.scalars(select(Evidence))] == ["docs/方案.pdf", "https://oa.example/1"]
        if action in ("reject", "reopen", "mark_ongoing"):
            assert item.submitted_by_id is None
        if action == "reopen":
            assert item.closed_on is None
    changed = dump(db_url)
    # Nothing else moved: the other tables hold what they held, plus the audit row (and evidence).
    assert changed["people"] == before["people"]
    if action == "submit":  # the submission completes measure 1 (completes=[1]), nothing else
        (measure,) = changed["measures"]
        assert measure[:6] + measure[9:] == before["measures"][0][:6] + before["measures"][0][9:]
        assert measure[6:9] == (DAY, p["刘洋"].id, "已完成整改")  # day, by whom, what was done
    else:
        assert changed["measures"] == before["measures"]


@pytest.mark.parametrize("start", [Status.in_progress, Status.submitted, Status.ongoing])
def test_reassign_keeps_the_state_and_audits(db_url, session_maker, ledger, start):
    ledger(start)
    with session_maker.begin() as s:
        p = people(s)
        workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["孙丽"], leader=p["吴海燕"], department="综合科")
    with session_maker() as s:
        item = s.scalars(select(Item)).one()
        assert (item.status, item.owner.name, item.leader.name, item.department) == (start, "孙丽", "吴海燕", "综合科")
        (rec,) = audit_rows(s)
        assert (rec.action, rec.from_status, rec.to_status, rec.actor) == ("reassign", start.value, start.value, "陈静")
        assert rec.details == {"owner": "孙丽", "leader": "吴海燕", "department": "综合科"}


def test_assign_needs_a_leader(db_url, session_maker, ledger):
    with session_maker.begin() as s:
        add_item(s, "ZG-1", Status.new)  # no owner, no leader in the register
    before = dump(db_url)
    with session_maker() as s:
        p = people(s)
        with pytest.raises(InvalidTransition, match="责任领导"):
            workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["刘洋"])
        workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["刘洋"], leader=p["周建国"])
        s.rollback()
    assert dump(db_url) == before


@pytest.mark.parametrize("start", list(Status), ids=lambda s: s.value)
def test_progress_only_while_work_goes_on(db_url, session_maker, ledger, start):
    ledger(start)
    before = dump(db_url)
    call, actor, comment = CALLS["progress"]
    with session_maker() as s:
        p = people(s)
        if start not in (Status.in_progress, Status.ongoing):
            with pytest.raises(InvalidTransition):
                call(s, p)
            s.commit()
            assert dump(db_url) == before
            return
        call(s, p)
        s.commit()
        item = s.scalars(select(Item)).one()
        assert item.status is start and item.last_progress_on == DAY
        (note,) = s.scalars(select(ProgressNote)).all()
        assert (note.note, note.percent, note.author_id, note.day) == ("完成一半", 50, p["刘洋"].id, DAY)
        (rec,) = audit_rows(s)
        assert (rec.action, rec.actor, rec.from_status, rec.to_status, rec.comment, rec.details) == (
            "progress", "刘洋", None, None, "完成一半", {"percent": 50})


# --- role rules -------------------------------------------------------------------------

SECRETARY_ONLY = [  # (action, the state where it would be allowed)
    ("assign", Status.new), ("approve", Status.submitted), ("reject", Status.submitted),
    ("reopen", Status.closed), ("mark_ongoing", Status.in_progress),
]


@pytest.mark.parametrize("who", ["刘洋", "周建国", "孙丽"])
@pytest.mark.parametrize("action,start", SECRETARY_ONLY)
def test_only_a_secretary(db_url, session_maker, ledger, who, action, start):
    ledger(start)
    before = dump(db_url)
    with session_maker() as s:
        p = people(s)
        actor = p[who]
        calls = {
            "assign": lambda: workflow.assign(s, "ZG-1", actor, DAY, owner=p["刘洋"]),
            "approve": lambda: workflow.approve(s, "ZG-1", actor, DAY, comment="同意"),
            "reject": lambda: workflow.reject(s, "ZG-1", actor, DAY, comment="退回"),
            "reopen": lambda: workflow.reopen(s, "ZG-1", actor, DAY, reason="反弹"),
            "mark_ongoing": lambda: workflow.mark_ongoing(s, "ZG-1", actor, DAY),
        }
        with pytest.raises(Forbidden, match="仅秘书"):
            calls[action]()
        s.commit()
    assert dump(db_url) == before


@pytest.mark.parametrize("who", ["孙丽", "吴海燕", "陈静"])
@pytest.mark.parametrize("action", ["progress", "submit"])
def test_progress_and_submit_only_by_the_items_people(db_url, session_maker, ledger, who, action):
    ledger(Status.in_progress)
    before = dump(db_url)
    with session_maker() as s:
        actor = people(s)[who]
        with pytest.raises(Forbidden, match="不是事项 ZG-1 的责任人或责任领导"):
            if action == "progress":
                workflow.add_progress(s, "ZG-1", actor, DAY, note="进展")
            else:
                workflow.submit(s, "ZG-1", actor, DAY, completes=[1], summary="完成")
        s.commit()
    assert dump(db_url) == before


@pytest.mark.usefixtures("single_review")
def test_the_leader_may_record_progress_and_submit(session_maker, ledger):
    ledger(Status.in_progress)
    with session_maker.begin() as s:
        leader = people(s)["周建国"]
        workflow.add_progress(s, "ZG-1", leader, DAY, note="督促推进")
        workflow.submit(s, "ZG-1", leader, DAY, completes=[1], summary="已完成")
    with session_maker() as s:
        item = s.scalars(select(Item)).one()
        assert item.status is Status.submitted and item.submitted_by.name == "周建国"


@pytest.mark.parametrize("review", ["approve", "reject"])
@pytest.mark.usefixtures("single_review")
def test_a_submitter_never_reviews_their_own_submission(db_url, session_maker, ledger, review):
    # 王芳 is a secretary and also this item's leader: she may submit, but not sign it off.
    ledger(Status.in_progress, leader="王芳")
    with session_maker.begin() as s:
        workflow.submit(s, "ZG-1", people(s)["王芳"], DAY, completes=[1], summary="已完成")
    before = dump(db_url)
    with session_maker() as s:
        p = people(s)
        with pytest.raises(Forbidden, match="提交人"):
            if review == "approve":
                workflow.approve(s, "ZG-1", p["王芳"], DAY, comment="同意")
            else:
                workflow.reject(s, "ZG-1", p["王芳"], DAY, comment="再改改")
        s.commit()
    assert dump(db_url) == before
    with session_maker.begin() as s:  # another secretary may
        workflow.approve(s, "ZG-1", people(s)["陈静"], DAY, comment="同意")
    with session_maker() as s:
        assert s.scalars(select(Item)).one().status is Status.closed


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
@pytest.mark.parametrize("action,start", [("reopen", Status.closed), ("reject", Status.submitted)])
def test_reopen_needs_a_reason_and_reject_a_comment(db_url, session_maker, ledger, blank, action, start):
    ledger(start)
    before = dump(db_url)
    with session_maker() as s:
        sec = people(s)["陈静"]
        with pytest.raises(InvalidTransition, match="不能为空"):
            if action == "reopen":
                workflow.reopen(s, "ZG-1", sec, DAY, reason=blank)
            else:
                workflow.reject(s, "ZG-1", sec, DAY, comment=blank)
        s.commit()
    assert dump(db_url) == before


@pytest.mark.parametrize("percent", [-1, 101])
def test_percent_out_of_range(db_url, session_maker, ledger, percent):
    ledger(Status.in_progress)
    before = dump(db_url)
    with session_maker() as s:
        with pytest.raises(InvalidTransition, match="百分比"):
            workflow.add_progress(s, "ZG-1", people(s)["刘洋"], DAY, note="x", percent=percent)
        s.commit()
    assert dump(db_url) == before


def test_blank_summary_and_note_are_refused(db_url, session_maker, ledger):
    ledger(Status.in_progress)
    before = dump(db_url)
    with session_maker() as s:
        owner = people(s)["刘洋"]
        with pytest.raises(InvalidTransition):
            workflow.submit(s, "ZG-1", owner, DAY, completes=[1], summary="  ")
        with pytest.raises(InvalidTransition):
            workflow.add_progress(s, "ZG-1", owner, DAY, note="")
        s.commit()
    assert dump(db_url) == before


def test_unknown_item_and_person(session_maker, ledger):
    with session_maker() as s:
        with pytest.raises(NotFound, match="ZG-404"):
            workflow.approve(s, "ZG-404", people(s)["陈静"], DAY)
        with pytest.raises(NotFound, match="李四"):
            workflow.get_person(s, "李四")
        with pytest.raises(Forbidden, match="RECTIFY_USER"):
            workflow.get_person(s, None)


def test_approving_an_item_never_submitted_says_so(session_maker, ledger):
    ledger(Status.in_progress)
    with session_maker() as s:
        with pytest.raises(InvalidTransition, match="当前状态为“整改中”"):
            workflow.approve(s, "ZG-1", people(s)["陈静"], DAY)


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
    from models.db import session_factory

    maker = session_factory(sqlite_url)
    with maker.begin() as s:
        p = add_people(s)
        add_item(s, "ZG-1", Status.in_progress, owner=p["刘洋"], leader=p["周建国"])
    engine = get_engine(sqlite_url)
    fired = threading.Event()

    def meddle(conn, cursor, statement, params, context, executemany):
        if statement.startswith("UPDATE items") and not fired.is_set():
            fired.set()
            with engine.connect() as other:  # a second connection, as another process would be
                other.execute(update(Item).values(status=Status.ongoing))
                other.commit()

    before_audit = 0
    event.listen(engine, "before_cursor_execute", meddle)
    try:
        with maker() as s:
            with pytest.raises(ConcurrentChange):
                workflow.submit(s, "ZG-1", people(s)["刘洋"], DAY, completes=[1], summary="完成")
            s.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", meddle)
    assert fired.is_set()
    with maker() as s:
        assert s.scalars(select(Item)).one().status is Status.ongoing
        assert len(audit_rows(s)) == before_audit


# --- the audit trail -------------------------------------------------------------------


@pytest.mark.usefixtures("single_review")
def test_audit_trail_is_append_only_through_a_whole_life(db_url, session_maker, ledger):
    ledger(Status.new)
    steps = [
        lambda s, p: workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["刘洋"]),
        lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="方案起草"),
        lambda s, p: workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成", evidence=["a.pdf"]),
        lambda s, p: workflow.reject(s, "ZG-1", p["陈静"], DAY, comment="佐证不足"),
        lambda s, p: workflow.submit(s, "ZG-1", p["周建国"], DAY, completes=[1], summary="补充材料", evidence=["b.pdf"]),
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
            add_item(s, "ZG-1", status, owner=p["刘洋"], leader=p["周建国"],
                     submitted_by=p["刘洋"] if status is Status.submitted else None)

    return make


# --- control characters -----------------------------------------------------------

ESC = "\x1b[2J\x1b[31m"
HOSTILE = [  # (start state, call with the hostile text, the field's name in the message)
    (Status.in_progress, lambda s, p, t: workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="进展" + t), "进展说明"),
    (Status.in_progress, lambda s, p, t: workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成" + t), "整改情况说明"),
    (Status.in_progress, lambda s, p, t: workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成",
                                                         evidence=["a.pdf" + t]), "佐证材料"),
    (Status.submitted, lambda s, p, t: workflow.approve(s, "ZG-1", p["陈静"], DAY, comment="同意" + t), "审核意见"),
    (Status.submitted, lambda s, p, t: workflow.reject(s, "ZG-1", p["陈静"], DAY, comment="退回" + t), "退回意见"),
    (Status.closed, lambda s, p, t: workflow.reopen(s, "ZG-1", p["陈静"], DAY, reason="反弹" + t), "回头看原因"),
    (Status.in_progress, lambda s, p, t: workflow.mark_ongoing(s, "ZG-1", p["陈静"], DAY, comment="常态" + t), "说明"),
    (Status.new, lambda s, p, t: workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["刘洋"],
                                                 department="综合" + t), "责任部门"),
    (Status.in_progress, lambda s, p, t: workflow.assign(s, "ZG-1", p["陈静"], DAY, owner=p["孙丽"],
                                                         department="综合" + t), "责任部门"),
]


@pytest.mark.parametrize("bad", [ESC, "\x00", "\x7f", "\x9b", "\u2028"], ids=repr)
@pytest.mark.parametrize("start,call,what", HOSTILE, ids=lambda v: getattr(v, "value", v if isinstance(v, str) else ""))
def test_control_characters_are_refused(db_url, session_maker, make, start, call, what, bad):
    make(start)
    # inside the text: at either end, strip() would take a U+2028 away before the check
    line = refused(db_url, session_maker, lambda s, p: call(s, p, bad + "尾"), InvalidInput, "控制字符")
    assert line.startswith(what) and f"U+{ord(bad[0]):04X}" in line


@pytest.mark.parametrize("start,call,what", [h for h in HOSTILE if h[2] in ("佐证材料", "责任部门")],
                         ids=lambda v: getattr(v, "value", v if isinstance(v, str) else ""))
@pytest.mark.parametrize("bad", ["\n", "\t"], ids=repr)
def test_short_fields_refuse_line_breaks_and_tabs(db_url, session_maker, make, start, call, what, bad):
    make(start)
    refused(db_url, session_maker, lambda s, p: call(s, p, bad + "x"), InvalidInput, what)


def test_multi_line_text_keeps_line_breaks_and_tabs(session_maker, make):
    make(Status.in_progress)
    with session_maker.begin() as s:
        p = people(s)
        workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="一、方案起草\r\n\t二、征求意见")
        workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="已完成：\n1. 印发\n2. 落实",
                        evidence=["docs/方案.pdf"])
    with session_maker() as s:
        assert s.scalars(select(ProgressNote.note)).one() == "一、方案起草\n\t二、征求意见"
        assert [r.comment for r in audit_rows(s)] == ["一、方案起草\n\t二、征求意见", "已完成：\n1. 印发\n2. 落实"]
        assert s.scalars(select(Evidence.ref)).all() == ["docs/方案.pdf"]


# --- business days ------------------------------------------------------------------


@pytest.mark.parametrize("day", [date(1999, 12, 31), date(2100, 1, 1), date(9999, 12, 31), date(1, 1, 1)])
def test_a_day_outside_the_window_is_refused(db_url, session_maker, make, day):
    make(Status.in_progress)
    line = refused(db_url, session_maker,
                   lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], day, note="进展"),
                   InvalidInput, "超出有效范围")
    assert day.isoformat() in line and "2000-01-01" in line and "2099-12-31" in line


@pytest.mark.usefixtures("single_review")
def test_the_trail_never_runs_backwards(db_url, session_maker, make):
    """Review's repro: submitted on 11-05, approved "on 10-01" would close it before it was
    submitted and make the as-of report say 100% before the register existed."""
    make(Status.in_progress)
    with session_maker.begin() as s:
        workflow.submit(s, "ZG-1", people(s)["刘洋"], date(2026, 11, 5), completes=[1], summary="完成")
    line = refused(db_url, session_maker,
                   lambda s, p: workflow.approve(s, "ZG-1", p["陈静"], date(2026, 10, 1), comment="同意"),
                   InvalidTransition, "不能倒填")
    assert "2026-10-01" in line and "2026-11-05" in line
    refused(db_url, session_maker,  # the rejection path and a reassignment are dated too
            lambda s, p: workflow.reject(s, "ZG-1", p["陈静"], date(2026, 11, 4), comment="退回"),
            InvalidTransition, "2026-11-05")
    refused(db_url, session_maker,
            lambda s, p: workflow.assign(s, "ZG-1", p["陈静"], date(2026, 11, 4), owner=p["孙丽"]),
            InvalidTransition, "2026-11-05")
    with session_maker.begin() as s:  # the same day, or later, is fine
        workflow.approve(s, "ZG-1", people(s)["陈静"], date(2026, 11, 5), comment="同意")
    with session_maker() as s:
        assert s.scalars(select(Item)).one().closed_on == date(2026, 11, 5)


def test_progress_is_dated_after_the_last_record_too(db_url, session_maker, make):
    make(Status.in_progress)
    with session_maker.begin() as s:
        workflow.add_progress(s, "ZG-1", people(s)["刘洋"], date(2026, 11, 20), note="一半")
    refused(db_url, session_maker,
            lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], date(2026, 11, 19), note="补记"),
            InvalidTransition, "2026-11-19.*2026-11-20")


# --- the diagram's moves only ---------------------------------------------------------


def test_an_ongoing_item_cannot_be_submitted_nor_reach_in_progress_by_rejection(db_url, session_maker, make):
    make(Status.ongoing)
    line = refused(db_url, session_maker,
                   lambda s, p: workflow.submit(s, "ZG-1", p["刘洋"], DAY, completes=[1], summary="完成"),
                   InvalidTransition, "长期坚持")
    assert "仅限：整改中" in line
    assert set(workflow.TRANSITIONS["submit"]) == {Status.in_progress}
    # No path in the table leads from 长期坚持 anywhere: it is left only by a re-import (19).
    assert not any(Status.ongoing in moves for moves in workflow.TRANSITIONS.values())


# --- guarded UPDATEs -------------------------------------------------------------------


def _race(url: str, call) -> None:
    """Another connection closes the item between our SELECT and our first UPDATE."""
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
                other.execute(update(Item).values(status=Status.closed))
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
        assert item.status is Status.closed and item.owner.name == "刘洋"
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

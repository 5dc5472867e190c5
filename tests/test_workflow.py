"""The transition table and the role rules, on SQLite and PostgreSQL.

Every (action, from-state) pair is tried: allowed moves change the status and write exactly one
audit record in the same transaction; forbidden ones raise and leave every table as it was.
The guards around the moves (concurrency, the audit trail, control characters, business days,
the status-guarded UPDATEs) are in tests/test_workflow_guards.py.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from models import Evidence, Item, Person, ProgressNote, Status
from rectify import workflow
from rectify.errors import Forbidden, InvalidTransition, NotFound
from ledger_helpers import DAY, add_item, audit_rows, dump, states

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
    "submit": (
        lambda s, p: workflow.submit(
            s,
            "ZG-1",
            p["刘洋"],
            DAY,
            completes=[1],
            summary="已完成整改",
            evidence=["docs/方案.pdf", "https://oa.example/1"],
        ),
        "刘洋",
        "已完成整改",
    ),
    "signoff": (lambda s, p: workflow.signoff(s, "ZG-1", p["周建国"], DAY, comment="同意"), "周建国", "同意"),
    "approve": (
        lambda s, p: workflow.approve(s, "ZG-1", p["陈静"], DAY, comment="同意销号"),
        "陈静",
        "同意销号",
    ),
    "reject": (
        lambda s, p: workflow.reject(s, "ZG-1", p["陈静"], DAY, comment="佐证不足"),
        "陈静",
        "佐证不足",
    ),
    # at 待领导审核 the leader is the one who may send it back
    "reject_leader": (
        lambda s, p: workflow.reject(s, "ZG-1", p["周建国"], DAY, comment="佐证不足"),
        "周建国",
        "佐证不足",
    ),
    "reopen": (
        lambda s, p: workflow.reopen(s, "ZG-1", p["陈静"], DAY, reason="回头看发现反弹"),
        "陈静",
        "回头看发现反弹",
    ),
    "mark_ongoing": (
        lambda s, p: workflow.mark_ongoing(s, "ZG-1", p["陈静"], DAY, comment="常态化"),
        "陈静",
        "常态化",
    ),
    "progress": (
        lambda s, p: workflow.add_progress(s, "ZG-1", p["刘洋"], DAY, note="完成一半", percent=50),
        "刘洋",
        "完成一半",
    ),
}


@pytest.fixture
def ledger(session_maker):
    """People committed; returns a function that puts item ZG-1 in a given state."""
    return states(session_maker)


def people(session) -> dict[str, Person]:
    return {p.name: p for p in session.scalars(select(Person))}


def test_table_is_the_documented_one():
    table = {(a, f): t for a, moves in workflow.TRANSITIONS.items() for f, t in moves.items()}
    assert table == ALLOWED


# Assigning an already assigned open item is a reassign, tested on its own below.
PAIRS = [
    (a, f)
    for a, f in itertools.product(MOVES, Status)
    if not (
        a == "assign" and f in (Status.in_progress, Status.leader_review, Status.submitted, Status.ongoing)
    )
]


@pytest.mark.parametrize("action,start", PAIRS, ids=lambda v: getattr(v, "value", v))
def test_every_move(db_url, session_maker, ledger, action, start):
    ledger(start)
    before = dump(db_url)
    call, actor, comment = CALLS[
        "reject_leader" if (action, start) == ("reject", Status.leader_review) else action
    ]
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
            actor,
            DAY,
            action,
            start.value,
            target.value,
            comment,
        )
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
        assert (item.status, item.owner.name, item.leader.name, item.department) == (
            start,
            "孙丽",
            "吴海燕",
            "综合科",
        )
        (rec,) = audit_rows(s)
        assert (rec.action, rec.from_status, rec.to_status, rec.actor) == (
            "reassign",
            start.value,
            start.value,
            "陈静",
        )
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
            "progress",
            "刘洋",
            None,
            None,
            "完成一半",
            {"percent": 50},
        )


# --- role rules -------------------------------------------------------------------------

SECRETARY_ONLY = [  # (action, the state where it would be allowed)
    ("assign", Status.new),
    ("approve", Status.submitted),
    ("reject", Status.submitted),
    ("reopen", Status.closed),
    ("mark_ongoing", Status.in_progress),
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

"""Helpers shared by the ledger tests (workflow, importer, CLI, flows): the tests' one "today",
people, items in a given state, a full dump of every table to prove that a refused action
changed nothing, and the `rectify` command line as a real subprocess. Fixtures live in
conftest.py; a test module imports builders from here, never from another test module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models import AuditRecord, Item, Measure, Person, Role, Status
from models.base import Base
from models.db import get_engine
from models.db import session_factory

# The tests run on fixed business days: the demo register is dated 2026-11-02 and "today" is
# 2026-11-30, both Mondays. Use these rather than writing the dates again.
TODAY = date(2026, 11, 30)
DAY = TODAY  # the name the ledger tests use
REGISTER_DAY = date(2026, 11, 2)

# name -> (role, department)
PEOPLE = {
    "陈静": Role.secretary,  # the secretary
    "王芳": Role.secretary,  # a second secretary (approves what 陈静 might submit)
    "周建国": Role.leader,  # the item's leader
    "刘洋": Role.owner,  # the item's owner
    "孙丽": Role.owner,  # another owner, not on the item
    "吴海燕": Role.leader,  # another leader, not on the item
}


def add_people(session: Session) -> dict[str, Person]:
    people = {}
    for i, (name, role) in enumerate(PEOPLE.items()):
        p = Person(name=name, title="", department="办公室", email=f"p{i}@example.gov.cn", role=role)
        session.add(p)
        people[name] = p
    session.flush()
    return people


def add_item(
    session: Session,
    code: str,
    status: Status,
    *,
    owner: Person | None = None,
    leader: Person | None = None,
    submitted_by: Person | None = None,
    deadline: date | None = date(2026, 12, 31),
) -> Item:
    item = Item(
        code=code,
        source="对照检查",
        category="班子问题",
        description=f"问题 {code}",
        department="办公室",
        status=status,
        owner_id=owner.id if owner else None,
        leader_id=leader.id if leader else None,
        submitted_by_id=submitted_by.id if submitted_by else None,
        deadline=deadline,
        register_date=date(2026, 11, 2),
        deadline_changed_on=date(2026, 11, 2),
        closed_on=date(2026, 11, 20) if status is Status.closed else None,
    )
    item.measures = [
        Measure(
            position=0,
            text="措施一",
            deadline=deadline,
            deadline_text=deadline.isoformat() if deadline else "长期坚持",
        )
    ]
    session.add(item)
    session.flush()
    return item


def add_with_measures(
    session,
    code: str,
    *deadlines: date | None,
    status: Status = Status.in_progress,
    done: tuple[int, ...] = (),
) -> Item:
    """An item of 刘洋 (owner) and 周建国 (leader) with one measure per deadline (None: 长期坚持);
    `done`: measure numbers already done."""
    p = people_by_name(session)
    dated = [d for d in deadlines if d]
    item = Item(
        code=code,
        source="对照检查",
        category="班子问题",
        description=f"问题{code}",
        department="办公室",
        status=status,
        owner_id=p["刘洋"].id,
        leader_id=p["周建国"].id,
        deadline=max(dated) if dated else None,
        register_date=date(2026, 9, 1),
        deadline_changed_on=date(2026, 9, 1),
        closed_on=date(2026, 9, 20) if status is Status.closed else None,
    )
    item.measures = [
        Measure(
            position=i,
            text=f"措施{i + 1}",
            deadline=d,
            deadline_text=d.isoformat() if d else "长期坚持",
            done_on=date(2026, 9, 10) if i + 1 in done else None,
            done_note="已完成" if i + 1 in done else "",
        )
        for i, d in enumerate(deadlines)
    ]
    session.add(item)
    session.flush()
    return item


def states(session_maker):
    """People committed; returns make(status, code=..., owner=..., leader=..., submitted_by=...)
    that commits one item in that state (a submitter recorded where the state has one)."""
    with session_maker.begin() as s:
        add_people(s)

    def make(status: Status, code: str = "ZG-1", owner="刘洋", leader="周建国", submitted_by="刘洋"):
        with session_maker.begin() as s:
            p = people_by_name(s)
            add_item(
                s,
                code,
                status,
                owner=p[owner],
                leader=p[leader],
                submitted_by=p[submitted_by] if status in (Status.leader_review, Status.submitted) else None,
            )

    return make


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every ledger table, in primary-key order, on a fresh connection."""
    out = {}
    with get_engine(url).connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(table.select().order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def people_by_name(session: Session) -> dict[str, Person]:
    return {p.name: p for p in session.scalars(select(Person))}


def refused(db_url, session_maker, call, exc_type, match: str) -> str:
    """Call(session, people), expect the one-line refusal, commit anyway, and prove that nothing
    in the whole database changed; returns the line."""
    import pytest

    before = dump(db_url)
    with session_maker() as s:
        with pytest.raises(exc_type, match=match) as exc:
            call(s, people_by_name(s))
        s.commit()
    assert dump(db_url) == before
    line = str(exc.value)
    assert "\n" not in line
    return line


def audit_rows(session: Session, item: Item | None = None) -> list[AuditRecord]:
    stmt = select(AuditRecord).order_by(AuditRecord.id)
    if item is not None:
        stmt = stmt.where(AuditRecord.item_id == item.id)
    return list(session.scalars(stmt))


def count(url: str, table: str) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def build_big_ledger(url: str, n: int = 10_000) -> None:
    """A migrated, empty ledger filled with n items (one measure and one audit row each) by bulk
    INSERTs: seconds, not the minutes n imports would take. Used by the CLI timing test and
    bench/bench_cli.py."""
    from sqlalchemy import insert

    statuses = [
        Status.new,
        Status.in_progress,
        Status.in_progress,
        Status.submitted,
        Status.closed,
        Status.ongoing,
    ]
    categories = ["班子问题", "个人问题", "服务对象反映问题"]
    sources = ["专题组织生活会", "对照检查", "调研走访", "上级反馈"]
    engine = get_engine(url)
    with engine.begin() as conn:
        people = [
            dict(
                id=1,
                name="陈静",
                title="办公室主任",
                department="办公室",
                email="sec@example.gov.cn",
                role=Role.secretary,
            )
        ]
        people += [
            dict(
                id=i,
                name=f"领导{i:02d}",
                title="副局长",
                department="局领导",
                email=f"leader{i}@example.gov.cn",
                role=Role.leader,
            )
            for i in range(2, 12)
        ]
        people += [
            dict(
                id=i,
                name=f"干部{i:03d}",
                title="科长",
                department=f"第{i % 9}科",
                email=f"owner{i}@example.gov.cn",
                role=Role.owner,
            )
            for i in range(12, 112)
        ]
        conn.execute(insert(Person.__table__), people)
        items, measures, audits = [], [], []
        base = date(2026, 9, 1)
        for i in range(1, n + 1):
            status = statuses[i % len(statuses)]
            deadline = None if status is Status.ongoing else date.fromordinal(base.toordinal() + i % 240)
            items.append(
                dict(
                    id=i,
                    code=f"ZG-{i:05d}",
                    source=sources[i % 4],
                    category=categories[i % 3],
                    description=f"第{i}个问题：学习形式较为单一，学用结合不够紧密，调研成果转化不足。",
                    department=f"第{i % 9}科",
                    remark="",
                    status=status,
                    owner_id=12 + i % 100,
                    leader_id=2 + i % 10,
                    deadline=deadline,
                    register_date=base,
                    deadline_changed_on=base,
                    closed_on=date(2026, 11, 1) if status is Status.closed else None,
                )
            )
            measures.append(
                dict(
                    item_id=i,
                    position=0,
                    text=f"措施{i}",
                    deadline=deadline,
                    deadline_text=deadline.isoformat() if deadline else "长期坚持",
                )
            )
            audits.append(
                dict(
                    item_id=i,
                    actor="系统",
                    day=base,
                    action="import",
                    from_status=None,
                    to_status=status.value,
                    comment="",
                )
            )
        conn.execute(insert(Item.__table__), items)
        conn.execute(insert(Measure.__table__), measures)
        conn.execute(insert(AuditRecord.__table__), audits)


def seed_item(url: str, code: str = "ZG-2026-001") -> str:
    """People and one new item with owner 刘洋 and leader 周建国, as the register gives them
    (the item flow's tests start from this ledger)."""
    with session_factory(url)() as s, s.begin():
        people = add_people(s)
        add_item(s, code, Status.new, owner=people["刘洋"], leader=people["周建国"])
    return url


# --- the `rectify` command line as a subprocess ---------------------------------------------

RECTIFY = Path(sys.executable).parent / "rectify"


def env_for(url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    env.update(RECTIFY_DATABASE_URL=url, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", **extra)
    return env


def sh(cwd: Path, url: str, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RECTIFY), *args], cwd=cwd, env=env_for(url, **extra), capture_output=True, text=True, timeout=600
    )


def assert_one_error(result, *, problem_lines: int = 0) -> str:
    """Non-zero exit, exactly one 错误： line (plus the import's per-problem lines), no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("提示：")]
    errors = [line for line in lines if line.startswith("错误：")]
    assert len(errors) == 1, result.stderr
    assert len(lines) == 1 + problem_lines, result.stderr
    assert lines[-1] == errors[0]
    return errors[0]


def as_json(result):
    return json.loads(result.stdout)

"""Register import as offices really write registers, on SQLite and PostgreSQL.

Workbooks are built with openpyxl the way a real office sheet looks: two title rows, problem
cells merged over their measure rows, Excel date cells beside deadlines typed as text, and a
people sheet with Chinese or English roles; re-imports update in place; random valid registers
round-trip. A bad file refused whole is in test_import_all_or_nothing.py.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models import AuditRecord, Item, Person, ProgressNote, Role, Status
from models.db import session_factory
from rectify.importer import parse_files
from ledger_helpers import dump
from register_helpers import (
    CAL,
    DAY,
    HEAD,
    LATER,
    PEOPLE,
    PEOPLE_HEAD,
    messy_items,
    register_rows,
    run_import,
    write_csv,
    write_xlsx,
)

HEAD_EN = [
    "code",
    "source",
    "category",
    "description",
    "measure",
    "leader",
    "department",
    "owner",
    "deadline",
    "progress",
    "remark",
]
ROLES = {
    "陈静": Role.secretary,
    "周建国": Role.leader,
    "吴海燕": Role.leader,
    "郑永强": Role.leader,
    "刘洋": Role.owner,
    "孙丽": Role.owner,
    "王芳": Role.secretary,
}


def check_ledger(url: str, items: list[dict]) -> None:
    with session_factory(url)() as s:
        got = {i.code: i for i in s.scalars(select(Item))}
        assert sorted(got) == sorted(it["code"] for it in items)
        for it in items:
            item = got[it["code"]]
            assert item.description == it["description"]
            assert (item.source, item.category, item.department) == (
                it["source"],
                it["category"],
                it["department"],
            )
            assert item.leader.name == it["leader"]
            assert item.owner.name == it["owner"].split("、")[0]
            assert [(m.text, m.deadline) for m in item.measures] == [(t, due) for t, _, due in it["measures"]]
            dues = [due for _, _, due in it["measures"] if due]
            assert item.deadline == (max(dues) if dues else None)
            assert item.status is (Status.new if dues else Status.ongoing)
            assert item.register_date == DAY and item.deadline_changed_on == DAY


@pytest.fixture
def messy(tmp_path) -> Path:
    return write_xlsx(tmp_path / "xx局问题整改清单.xlsx", messy_items())


# --- messy real-world registers -----------------------------------------------------------


def test_messy_workbook_imports_every_deadline_form(db_url, messy):
    result = run_import(db_url, [messy])
    items = messy_items()
    assert result.created == [it["code"] for it in items]
    assert sorted(result.people_created) == sorted(ROLES)
    check_ledger(db_url, items)
    with session_factory(db_url)() as s:
        assert {p.name: p.role for p in s.scalars(select(Person))} == ROLES
        item4 = s.scalars(select(Item).where(Item.code == "ZG-2026-004")).one()
        assert "协办：刘洋" in item4.remark  # a second owner named in the cell is kept, not lost
        item1 = s.scalars(select(Item).where(Item.code == "ZG-2026-001")).one()
        assert [m.deadline_text for m in item1.measures] == ["2026-12-15", "立行立改", "长期坚持"]
        assert [n.note for n in item1.progress_notes] == ["学习方案已起草。"]
        assert item1.last_progress_on == DAY
        # one audit record per new item, from the importer
        recs = s.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        assert [(r.action, r.actor, r.to_status) for r in recs] == [
            ("import", "系统", "new" if any(d for *_, d in it["measures"]) else "ongoing") for it in items
        ]


def test_unmerged_sheet_with_blank_continuation_rows(db_url, tmp_path):
    path = write_xlsx(tmp_path / "清单.xlsx", messy_items(), merge=False, title_rows=1)
    run_import(db_url, [path])
    check_ledger(db_url, messy_items())


def test_immediate_counts_working_days_across_national_day(db_url, tmp_path):
    items = [dict(messy_items()[4], measures=[("立行立改", "立行立改", date(2026, 10, 10))])]
    path = write_xlsx(tmp_path / "清单.xlsx", items)
    run_import(db_url, [path], day=date(2026, 9, 28))
    with session_factory(db_url)() as s:
        # 10-01..10-07 are holidays; Saturday 10-10 is a 调休 working day.
        assert s.scalars(select(Item)).one().deadline == date(2026, 10, 10)


def test_english_headers_and_roles(db_url, tmp_path):
    people = [[n, "", "", f"p{i}@example.gov.cn", r.value] for i, (n, r) in enumerate(ROLES.items())]
    path = write_xlsx(
        tmp_path / "register.xlsx",
        messy_items(),
        people,
        header=HEAD_EN,
        people_header=["name", "title", "department", "email", "role"],
        title_rows=0,
    )
    run_import(db_url, [path])
    check_ledger(db_url, messy_items())


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_register_and_people(db_url, tmp_path, encoding):
    items = messy_items()
    items[0]["description"] = "学习形式单一，\n读书班以集中领学为主。"  # Alt+Enter inside a cell
    reg = write_csv(tmp_path / "清单.csv", HEAD, register_rows(items), encoding)
    ppl = write_csv(tmp_path / "人员.csv", PEOPLE_HEAD, PEOPLE, encoding)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            reg.read_bytes().decode("utf-8")  # really not UTF-8: the fallback is exercised
    result = run_import(db_url, [reg, ppl])
    assert len(result.created) == len(items)
    check_ledger(db_url, items)


def test_demo_register_imports_cleanly(db_url, tmp_path):
    from demo.register import ITEMS, PEOPLE, build

    path = build(tmp_path / "demo.xlsx")
    result = run_import(db_url, [path], actor="陈静")
    assert len(result.created) == 12 == len(ITEMS)
    assert len(result.people_created) == len(PEOPLE)
    with session_factory(db_url)() as s:
        items = {i.code: i for i in s.scalars(select(Item))}
        assert items["ZG-2026-002"].measures[0].deadline == date(2026, 12, 1)  # an Excel date cell
        assert items["ZG-2026-009"].status is Status.ongoing and items["ZG-2026-009"].deadline is None
        assert items["ZG-2026-004"].deadline == date(2027, 3, 31)
        assert all(i.owner and i.leader for i in items.values())


# --- re-import ------------------------------------------------------------------------


def test_reimport_is_idempotent(db_url, messy):
    run_import(db_url, [messy])
    before = dump(db_url)
    result = run_import(db_url, [messy], day=LATER, actor="陈静")
    assert result.created == [] and result.updated == [] and result.people_updated == []
    assert result.unchanged == [it["code"] for it in messy_items()]
    assert dump(db_url) == before  # not one row touched, no audit record added


def test_updated_register_updates_in_place_and_audits(db_url, tmp_path, messy):
    run_import(db_url, [messy])
    with session_factory(db_url)() as s:
        ids = {i.code: i.id for i in s.scalars(select(Item))}
    items = messy_items()
    items[1]["measures"][0] = ("班子成员每人确定1个调研课题", "2027年1月15日", date(2027, 1, 15))
    items[2]["description"] = "企业反映用工难，技能人才短缺。"
    items[4]["measures"].append(("撰写学习体会", "2027-02-28", date(2027, 2, 28)))
    items[5]["progress"] = "已谈话12人。"
    people = [list(p) for p in PEOPLE]
    people[4][3] = "liuyang2@xxj.example.gov.cn"
    updated = write_xlsx(tmp_path / "updated.xlsx", items, people)
    result = run_import(db_url, [updated], day=LATER, actor="陈静")
    assert sorted(result.updated) == ["ZG-2026-002", "ZG-2026-003", "ZG-2026-005", "ZG-2026-006"]
    assert result.people_updated == ["刘洋"] and result.created == []
    with session_factory(db_url)() as s:
        got = {i.code: i for i in s.scalars(select(Item))}
        assert {c: i.id for c, i in got.items()} == ids  # in place, same rows
        assert got["ZG-2026-002"].deadline == date(2027, 1, 15)
        assert got["ZG-2026-002"].deadline_changed_on == LATER  # the reminder ladder restarts
        assert got["ZG-2026-003"].deadline_changed_on == DAY  # description only: ladder untouched
        assert got["ZG-2026-003"].description == "企业反映用工难，技能人才短缺。"
        assert (
            got["ZG-2026-005"].deadline == date(2027, 2, 28)
            and got["ZG-2026-005"].deadline_changed_on == LATER
        )
        assert got["ZG-2026-006"].last_progress_on == LATER
        notes = s.scalars(select(ProgressNote).where(ProgressNote.item_id == ids["ZG-2026-006"])).all()
        assert [n.note for n in notes] == ["已谈话12人。"]
        audits = {r.item_id: r for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "update"))}
        assert set(audits) == {ids[c] for c in result.updated}
        rec = audits[ids["ZG-2026-002"]]
        assert (rec.actor, rec.day, rec.from_status, rec.to_status) == ("陈静", LATER, "new", "new")
        assert rec.details["changes"]["deadline"] == ["2026-12-31", "2027-01-15"]
        assert "measures" in rec.details["changes"]
        assert audits[ids["ZG-2026-003"]].details["changes"] == {
            "description": ["企业反映用工难。", "企业反映用工难，技能人才短缺。"]
        }
        assert (
            s.get(Person, s.scalars(select(Person.id).where(Person.name == "刘洋")).one()).email
            == "liuyang2@xxj.example.gov.cn"
        )
    # and importing the updated register again changes nothing more
    before = dump(db_url)
    again = run_import(db_url, [updated], day=LATER, actor="陈静")
    assert again.updated == [] and dump(db_url) == before


# --- property tests -------------------------------------------------------------------

SAFE_TEXT = (
    st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=30)
    .map(str.strip)
    .filter(bool)
)
DEADLINES = st.one_of(
    st.dates(date(2026, 1, 1), date(2028, 12, 31)).flatmap(
        lambda d: st.sampled_from(
            [
                (d.isoformat(), d),
                (f"{d.year}/{d.month}/{d.day}", d),
                (f"{d.year}.{d.month}.{d.day}", d),
                (f"{d.year}年{d.month}月{d.day}日", d),
            ]
        )
    ),
    st.integers(1, 60).map(lambda n: (f"{n}个工作日内", CAL.add_workdays(DAY, n))),
    st.just(("长期坚持", None)),
    st.just(("年底前", date(2026, 12, 31))),
)


@st.composite
def registers(draw):
    n = draw(st.integers(1, 6))
    codes = draw(st.lists(st.from_regex(r"ZG-[0-9]{3}", fullmatch=True), min_size=n, max_size=n, unique=True))
    items = []
    for code in codes:
        measures = draw(
            st.lists(st.tuples(SAFE_TEXT, DEADLINES), min_size=1, max_size=3, unique_by=lambda m: m[0])
        )
        items.append(
            dict(
                code=code,
                source=draw(SAFE_TEXT),
                category=draw(SAFE_TEXT),
                description=draw(SAFE_TEXT),
                leader=draw(st.sampled_from(["周建国", "吴海燕"])),
                department=draw(SAFE_TEXT),
                owner=draw(st.sampled_from(["刘洋", "孙丽"])),
                progress="",
                remark="",
                measures=[(t, dl[0], dl[1]) for t, dl in measures],
            )
        )
    return items


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=registers(), encoding=st.sampled_from(["utf-8-sig", "gb18030"]))
def test_random_valid_registers_round_trip(tmp_path, sqlite_template, items, encoding):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    shutil.copy(sqlite_template, folder / "ledger.db")
    url = f"sqlite:///{folder / 'ledger.db'}"
    try:
        texts = "".join(str(v) for it in items for v in it.values())
        texts.encode(encoding.replace("-sig", ""))
    except UnicodeEncodeError:
        encoding = "utf-8-sig"
    reg = write_csv(folder / "清单.csv", HEAD, register_rows(items), encoding)
    ppl = write_csv(folder / "人员.csv", PEOPLE_HEAD, PEOPLE, encoding)
    result = run_import(url, [reg, ppl])
    assert sorted(result.created) == sorted(it["code"] for it in items)
    check_ledger(url, items)
    before = dump(url)
    run_import(url, [reg, ppl], day=LATER, actor="陈静")
    assert dump(url) == before


GARBAGE = st.text(st.sampled_from(list("abcxyz尽快待定上中下旬季度完成前后!?—（）")), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=GARBAGE, position=st.integers(0, 7))
def test_garbage_deadline_is_rejected_with_its_row(tmp_path, garbage, position):
    items = messy_items()
    rows = register_rows(items)
    rows[position][8] = garbage
    reg = write_csv(tmp_path / "清单.csv", HEAD, rows)
    ppl = write_csv(tmp_path / "人员.csv", PEOPLE_HEAD, PEOPLE)
    parsed, problems = parse_files([reg, ppl], DAY, CAL, 5)
    deadline_problems = [p for p in problems if p.column == "整改时限"]
    assert [(p.row, p.value) for p in deadline_problems] == [(position + 2, garbage.strip())]
    assert f"第{position + 2}行 整改时限" in str(deadline_problems[0])

"""A register import is all or nothing, on SQLite and PostgreSQL: a bad file is refused whole,
every problem named by row, column and value at once, and the database is byte-for-byte what it
was; so is a refused importer (only a secretary imports, rectify.import_checks), a missing or
headerless file, and a dry run. Messy but valid registers are in test_importer.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ledger_helpers import dump
from models import AuditRecord
from models.db import session_factory
from rectify.errors import Forbidden
from rectify.importer import ImportRejected
from register_helpers import LATER, PEOPLE, messy_items, run_import, write_xlsx


@pytest.fixture
def messy(tmp_path) -> Path:
    return write_xlsx(tmp_path / "xx局问题整改清单.xlsx", messy_items())


# Each mutation of the clean register, and the problem it must produce: (row, column, value).
# Rows: 1-2 title rows, 3 header, register data from 4; the people sheet's data from 2.
def _unknown_person(items, people):
    items[1]["owner"] = "李四"
    return ("bad.xlsx[问题整改清单] 第7行", "责任人", "李四")


def _bad_email(items, people):
    people[4][3] = "liuyang@xxj"
    return ("bad.xlsx[人员名单] 第6行", "邮箱", "liuyang@xxj")


def _bad_deadline(items, people):
    items[2]["measures"][1] = ("建立用工需求台账", "尽快完成", None)
    return ("bad.xlsx[问题整改清单] 第11行", "整改时限", "尽快完成")


def _duplicate_code(items, people):
    items[4]["code"] = "ZG-2026-001"
    return ("bad.xlsx[问题整改清单] 第14行", "序号", "ZG-2026-001")


def _adjacent_duplicate_code(items, people):
    items[5]["code"] = items[4]["code"]  # copy-pasted code on the next problem (different description)
    return ("bad.xlsx[问题整改清单] 第15行", "序号", items[4]["code"])


def _newline_in_name(items, people):
    people[5][0] = "孙\n丽"
    return ("bad.xlsx[人员名单] 第7行", "姓名", "孙\\n丽")


def _cr_in_title(items, people):
    people[1][1] = "党组书记\r局长"
    return ("bad.xlsx[人员名单] 第3行", "职务", "党组书记\\r局长")


def _newline_in_register_owner(items, people):
    items[7]["owner"] = "孙\r\n丽"
    return ("bad.xlsx[问题整改清单] 第19行", "责任人", "孙\\r\\n丽")


def _unknown_role(items, people):
    people[6][4] = "主任"
    return ("bad.xlsx[人员名单] 第8行", "角色", "主任")


def _blank_description(items, people):
    items[6]["description"] = ""
    return ("bad.xlsx[问题整改清单] 第17行", "问题描述", "")


MUTATIONS = [
    _unknown_person,
    _bad_email,
    _bad_deadline,
    _duplicate_code,
    _adjacent_duplicate_code,
    _newline_in_name,
    _cr_in_title,
    _newline_in_register_owner,
    _unknown_role,
    _blank_description,
]


def _seeded(db_url, tmp_path) -> dict:
    """A ledger that already holds an import and a little history, so 'unchanged' means something."""
    first = write_xlsx(tmp_path / "first.xlsx", messy_items()[:3])
    run_import(db_url, [first])
    return dump(db_url)


def _assert_problem(problems, where, column, value):
    lines = [str(p) for p in problems]
    shown = f"“{value}”" if value else ""
    assert any(where in line and f"{column}{shown}：" in line for line in lines), lines


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__.strip("_"))
def test_a_bad_row_rejects_the_whole_file(db_url, tmp_path, mutate):
    before = _seeded(db_url, tmp_path)
    items, people = messy_items(), [list(p) for p in PEOPLE]
    where, column, value = mutate(items, people)
    path = write_xlsx(tmp_path / "bad.xlsx", items, people)
    with pytest.raises(ImportRejected) as exc:
        run_import(db_url, [path], day=LATER, actor="陈静")
    _assert_problem(exc.value.problems, where, column, value)
    assert "台账未作任何修改" in str(exc.value)
    assert dump(db_url) == before


def test_every_problem_is_listed_at_once(db_url, tmp_path):
    before = _seeded(db_url, tmp_path)
    items, people = messy_items(), [list(p) for p in PEOPLE]
    expected = [
        m(items, people)
        for m in (_unknown_person, _bad_email, _bad_deadline, _newline_in_name, _cr_in_title, _unknown_role)
    ]
    path = write_xlsx(tmp_path / "bad.xlsx", items, people)
    with pytest.raises(ImportRejected) as exc:
        run_import(db_url, [path], day=LATER, actor="陈静")
    for where, column, value in expected:
        _assert_problem(exc.value.problems, where, column, value)
    assert dump(db_url) == before


def test_a_non_secretary_cannot_import(db_url, tmp_path, messy):
    before = _seeded(db_url, tmp_path)
    for actor, match in (("刘洋", "仅秘书"), ("李四", "没有“李四”"), (None, "须由秘书操作")):
        with pytest.raises(Forbidden, match=match):
            run_import(db_url, [messy], day=LATER, actor=actor)
        assert dump(db_url) == before


def test_the_first_import_may_name_its_secretary_from_the_sheet(db_url, messy):
    run_import(db_url, [messy], actor="王芳")
    with session_factory(db_url)() as s:
        assert {r.actor for r in s.scalars(select(AuditRecord))} == {"王芳"}


def test_missing_file_and_headerless_file(db_url, tmp_path):
    from rectify.errors import RectifyError

    before = dump(db_url)
    with pytest.raises(RectifyError, match="文件不存在"):
        run_import(db_url, [tmp_path / "nope.xlsx"])
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as exc:
        run_import(db_url, [junk])
    assert "找不到表头" in str(exc.value.problems[0])
    assert dump(db_url) == before


def test_dry_run_changes_nothing(db_url, tmp_path, messy):
    before = _seeded(db_url, tmp_path)
    result = run_import(db_url, [messy], day=LATER, actor="陈静", dry_run=True)
    assert result.dry_run
    assert sorted(result.created) == [f"ZG-2026-00{i}" for i in range(4, 9)]
    assert dump(db_url) == before

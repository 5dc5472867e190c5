"""The smaller promises of issue 10 (case 9): settings errors as one line, names that cannot
pose as someone else, a cap on evidence, exported text that stays text in Excel."""

from __future__ import annotations

import subprocess

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from ledger_helpers import DAY, add_item, add_people, dump
from models import AuditRecord, Person, Status
from models.db import session_factory
from notifications.compose import Recipient, build_message
from notifications.headers import HeaderInjectionError
from rectify import workflow
from rectify.errors import InvalidInput
from rectify.report.export import write_register_xlsx
from ledger_helpers import RECTIFY, env_for
from register_helpers import PEOPLE, PEOPLE_HEAD, run_import, write_csv


@pytest.mark.parametrize(
    "variable, value, line",
    [
        ("RECTIFY_SMTP_PORT", "notaport", "错误：设置 RECTIFY_SMTP_PORT 的值“notaport”无效：应为整数"),
        ("RECTIFY_TODAY", "garbage", "错误：设置 RECTIFY_TODAY 的值“garbage”无效：应为日期（YYYY-MM-DD）"),
    ],
)
def test_a_bad_setting_is_one_chinese_line(tmp_path, sqlite_url, variable, value, line):
    for args in (["list"], ["outbox"], ["remind", "--dry-run"]):
        result = subprocess.run(
            [str(RECTIFY), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env_for(sqlite_url, **{variable: value}),
            timeout=60,
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [line]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("陈静\u200b", "含有不可见的格式字符 U+200B"),  # would be a second 陈静 who looks the same
        ("张\u202e三", "含有不可见的格式字符 U+202E"),
        ("=?utf-8?b?5byg5LiJ?=", "含有邮件编码字样"),
    ],
)
def test_names_that_pose_as_someone_else_are_refused(tmp_path, sqlite_url, name, reason):
    path = write_csv(
        tmp_path / "人员.csv", PEOPLE_HEAD, PEOPLE + [[name, "", "", "x@example.gov.cn", "责任人"]]
    )
    before = dump(sqlite_url)
    with pytest.raises(Exception) as refused:
        run_import(sqlite_url, [path], actor="陈静")
    assert any(reason in str(p) for p in getattr(refused.value, "problems", [refused.value]))
    assert dump(sqlite_url) == before


def test_names_are_normalised_nfkc(tmp_path, sqlite_url):
    path = write_csv(
        tmp_path / "人员.csv", PEOPLE_HEAD, PEOPLE + [["ＡＢ张三", "", "", "ab@example.gov.cn", "责任人"]]
    )
    run_import(sqlite_url, [path], actor="陈静")
    with session_factory(sqlite_url)() as s:
        assert "AB张三" in set(s.scalars(select(Person.name)))


def test_an_encoded_word_in_a_name_never_reaches_a_header():
    with pytest.raises(HeaderInjectionError, match="邮件编码字样"):
        build_message(
            sender="整改台账 <rectify@localhost>",
            to=[Recipient("=?utf-8?b?6aKG5a+8?=", "a@example.gov.cn")],
            subject="s",
            text="t",
            html="<p>t</p>",
            message_id="<m@x>",
        )


def test_evidence_is_capped(sqlite_url):
    maker = session_factory(sqlite_url)
    with maker.begin() as s:
        people = add_people(s)
        add_item(s, "E-1", Status.in_progress, owner=people["刘洋"], leader=people["周建国"])
    before = dump(sqlite_url)
    for evidence in (["x" * 1001], [f"材料{i}" for i in range(21)]):
        with maker() as s, s.begin():
            owner = s.scalars(select(Person).where(Person.name == "刘洋")).one()
            with pytest.raises(InvalidInput, match="佐证材料最多20条、每条最多1000个字符"):
                workflow.submit(s, "E-1", owner, DAY, summary="已完成", evidence=evidence)
        assert dump(sqlite_url) == before


def test_exported_text_that_starts_like_a_formula_stays_text_in_excel(sqlite_url, tmp_path):
    maker = session_factory(sqlite_url)
    with maker.begin() as s:
        people = add_people(s)
        item = add_item(s, "F-1", Status.in_progress, owner=people["刘洋"], leader=people["周建国"])
        item.description = '=HYPERLINK("http://evil.test","点此")'
        item.remark = "@SUM(1)"
        s.flush()  # the export is as of a day: the item exists from its import record on
        s.add(
            AuditRecord(
                item_id=item.id, actor="系统", day=DAY, action="import", to_status=Status.in_progress.value
            )
        )
    with maker() as s:
        path = write_register_xlsx(s, tmp_path / "台账.xlsx", as_of=DAY)
    ws = load_workbook(path)["问题整改清单"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for text in ('=HYPERLINK("http://evil.test","点此")', "@SUM(1)"):
        assert cells[text].data_type == "s" and cells[text].quotePrefix  # Excel's '= mark
    assert not cells["F-1"].quotePrefix  # ordinary text is left alone

"""The status report: figures against an independent count, as-of replay, escaping, the Word
file read back, the Excel round trip, and the flow's artifact. The edge cases (text that looks
like a formula and characters Excel cannot hold in the export, 整改率 never rounding to 100%,
heading numbers past 九十九, "working days overdue" counting only working days) are in
tests/test_report_edges.py."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from demo.register import ITEMS
from models import AuditRecord, Item, Measure, Person, Status
from models.db import session_factory
from rectify.importer import import_register
from rectify.report import write_report
from rectify.report.docx import build_docx
from rectify.report.export import write_register_xlsx
from rectify.report.render import md_escape, render_html, render_markdown
from report_helpers import AS_OF, CAL, REGISTER_DAY, demo_ledger, report_as_of


def test_figures_equal_an_independent_count(db_url, tmp_path):
    demo_ledger(db_url, tmp_path)
    r = report_as_of(db_url, AS_OF)
    # Independently from the ledger's current state (every action happened before AS_OF).
    with session_factory(db_url)() as s:
        rows = s.execute(select(Item.code, Item.status, Item.category, Item.deadline, Item.leader_id)).all()
        leader_names = dict(s.execute(select(Person.id, Person.name)).all())
        measures = s.execute(select(func.count(Measure.id))).scalar_one()
        late = {
            code
            for (code,) in s.execute(
                select(Item.code).join(Measure).where(Measure.done_on.is_(None), Measure.deadline < AS_OF)
            )
        }
    open_active = [
        x
        for x in rows
        if x.status in (Status.new, Status.in_progress, Status.leader_review, Status.submitted)
    ]
    # per measure: an unfinished measure past its deadline (001's and 004's early measures too)
    overdue = {x.code for x in open_active if x.code in late}
    assert r.summary.total == len(rows) == len(ITEMS)
    assert r.summary.closed == sum(x.status is Status.closed for x in rows) == 1
    assert r.summary.in_progress == len(open_active)
    assert r.summary.ongoing == sum(x.status is Status.ongoing for x in rows)
    assert r.summary.overdue == len(overdue) == 5
    assert (
        {i.code for i in r.overdue}
        == overdue
        == {"ZG-2026-001", "ZG-2026-004", "ZG-2026-005", "ZG-2026-007", "ZG-2026-011"}
    )
    assert {t.name: t.total for t in r.categories} == Counter(x.category for x in rows)
    assert r.measure_count == measures
    by_leader = Counter(leader_names[x.leader_id] for x in rows if x.status is not Status.closed)
    assert {g.leader: len(g.items) for g in r.next_steps} == by_leader
    assert r.summary.rate == pytest.approx(1 / len(ITEMS))
    assert r.summary_sentence == (
        "截至2026年11月30日，共查摆问题12个（班子问题4个、个人问题4个、服务对象反映问题4个），"
        "已完成整改1个，整改率8.3%；正在推进10个，其中逾期5个；长期坚持1个。"
    )
    # oldest overdue measure first: 001's 立行立改 (11-09) is 15 working days late on 11-30,
    # then 007 (11-13, Fri): 11 working days
    assert [(i.code, i.overdue_workdays) for i in r.overdue[:2]] == [("ZG-2026-001", 15), ("ZG-2026-007", 11)]
    # every breakdown adds up to the total
    for b in r.breakdowns:
        assert sum(t.total for t in b.rows) == r.summary.total
        assert sum(t.overdue for t in b.rows) == r.summary.overdue


def test_as_of_replays_the_audit_trail(db_url, tmp_path):
    demo_ledger(db_url, tmp_path)
    before = report_as_of(db_url, date(2026, 11, 24))  # submitted, not yet approved
    after = report_as_of(db_url, date(2026, 11, 25))
    assert before.summary.closed == 0 and after.summary.closed == 1
    status = {i.code: i.status for g in before.next_steps for i in g.items}
    assert status["ZG-2026-012"] is Status.submitted
    assert "ZG-2026-012" not in {i.code for g in after.next_steps for i in g.items}
    # 11-24: 005 (11-20) is overdue, 011 (11-25) not yet; 007 (11-13) too; 001's 立行立改
    # measure (11-09) and 004's 15个工作日内 (11-23) are unfinished past their dates
    assert {i.code for i in before.overdue} == {"ZG-2026-001", "ZG-2026-004", "ZG-2026-005", "ZG-2026-007"}
    # 012's measures were completed by its submission on 11-24: overdue the day before
    assert "ZG-2026-012" in {i.code for i in report_as_of(db_url, date(2026, 11, 23)).overdue}
    # Before the import nothing exists yet.
    empty = report_as_of(db_url, date(2026, 11, 1))
    assert empty.summary.total == 0 and not empty.next_steps
    # On the import day every item is 待交办 (assignments are the same day, later rows).
    first = report_as_of(db_url, REGISTER_DAY)
    assert first.summary.total == 12 and first.summary.closed == 0


def test_stalled_items_from_progress_and_audit_days(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    r = report_as_of(sqlite_url, date(2026, 12, 10), stalled=30)
    stalled = {i.code for i in r.stalled}
    # last activity 11-02 (38 days) unless a note/submit since; 001 has a note on 11-20
    assert "ZG-2026-001" not in stalled
    assert "ZG-2026-009" in stalled  # 长期坚持, nothing since the import
    assert not stalled & {i.code for i in r.overdue}
    assert all(i.idle_days >= 30 for i in r.stalled)


def test_empty_ledger(db_url, tmp_path):
    r = report_as_of(db_url, AS_OF)
    assert r.summary.total == 0 and r.summary.rate_label == "—"
    assert "尚无整改事项" in r.summary_sentence
    with session_factory(db_url)() as s:
        paths = write_report(s, r, tmp_path / "out", ["md", "html", "docx", "xlsx"])
    assert all(p.stat().st_size > 0 for p in paths.values())
    assert "三、下一步打算" in paths["md"].read_text(encoding="utf-8")


def _hostile_ledger(url: str, tmp_path: Path) -> None:
    demo_ledger(url, tmp_path)
    with session_factory(url)() as s, s.begin():
        item = s.scalars(select(Item).where(Item.code == "ZG-2026-007")).one()
        item.description = '<script>alert("x")</script> a|b *粗* [链接](http://x) & 5 > 3'


def test_html_escapes_hostile_descriptions(sqlite_url, tmp_path):
    _hostile_ledger(sqlite_url, tmp_path)
    html = render_html(report_as_of(sqlite_url, AS_OF))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "5 &gt; 3" in html


def test_markdown_escapes_table_cells(sqlite_url, tmp_path):
    _hostile_ledger(sqlite_url, tmp_path)
    md = render_markdown(report_as_of(sqlite_url, AS_OF))
    assert "<script>" not in md and "&lt;script&gt;" in md
    row = next(
        line
        for line in md.splitlines()
        if line.startswith("| ") and "ZG-2026-007" in line and "alert" in line
    )
    # the description's pipe is escaped: the row still has exactly the table's 8 separators
    assert row.count("|") - row.count("\\|") == 8
    assert "a\\|b \\*粗\\* \\[链接\\](http\\://x) &amp; 5 &gt; 3" in row
    assert md_escape("一行\n两行") == "一行 两行"


def test_word_document_style_and_structure(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    r = report_as_of(sqlite_url, AS_OF)
    path = tmp_path / "r.docx"
    build_docx(r).save(path)
    doc = Document(str(path))
    sec = doc.sections[0]
    assert (round(sec.page_width.mm), round(sec.page_height.mm)) == (210, 297)
    assert [round(x.mm) for x in (sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin)] == [
        37,
        35,
        28,
        26,
    ]

    def east_asia(style_name):
        return doc.styles[style_name].element.rPr.find(qn("w:rFonts")).get(qn("w:eastAsia"))

    assert east_asia("Normal") == "仿宋_GB2312" and doc.styles["Normal"].font.size.pt == 16
    assert east_asia("Report Title") == "方正小标宋简体" and doc.styles["Report Title"].font.size.pt == 22
    assert east_asia("Heading 1") == "黑体" and east_asia("Heading 2") == "楷体_GB2312"
    assert (
        doc.paragraphs[0].text.replace("\n", "") == r.title and doc.paragraphs[0].style.name == "Report Title"
    )
    assert doc.paragraphs[0].paragraph_format.alignment is None  # centred by the style
    assert doc.styles["Report Title"].paragraph_format.alignment == 1
    font_table = next(p for p in doc.part.package.iter_parts() if str(p.partname) == "/word/fontTable.xml")
    assert "宋体".encode() in font_table.blob and b"altName" in font_table.blob
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings == ["一、整改工作开展情况", "二、存在的问题", "三、下一步打算"]
    assert r.summary_sentence in "\n".join(p.text for p in doc.paragraphs)
    # 附件1: 4 breakdowns + the overdue items; part 三 is text, not tables
    assert len(doc.tables) == 4 + 1
    for table in doc.tables:
        first = table.rows[0]._tr.trPr
        assert first.find(qn("w:tblHeader")) is not None
        assert all(row._tr.trPr.find(qn("w:cantSplit")) is not None for row in table.rows)
    last = doc.tables[-1]
    assert [c.text for c in last.rows[0].cells] == [
        "序号",
        "编号",
        "问题描述",
        "责任领导",
        "责任人",
        "整改时限",
        "逾期时间",
    ]
    assert [row.cells[1].text for row in last.rows[1:]] == [i.code for i in r.overdue]
    footer = sec.footer._element.xml
    assert "PAGE" in footer and "fldChar" in footer


def _register_snapshot(url: str) -> dict:
    owner, leader = aliased(Person), aliased(Person)
    with session_factory(url)() as s:
        items = s.execute(
            select(
                Item.code,
                Item.source,
                Item.category,
                Item.description,
                Item.department,
                Item.remark,
                Item.deadline,
                owner.name,
                leader.name,
            )
            .outerjoin(owner, Item.owner_id == owner.id)
            .outerjoin(leader, Item.leader_id == leader.id)
        ).all()
        measures = s.execute(
            select(Item.code, Measure.position, Measure.text, Measure.deadline).join(Item)
        ).all()
        people = s.execute(
            select(Person.name, Person.title, Person.department, Person.email, Person.role)
        ).all()
    return {
        "items": sorted(map(tuple, items)),
        "measures": sorted(map(tuple, measures)),
        "people": sorted(map(tuple, people)),
    }


def _export(url: str, path: Path, as_of: date = AS_OF) -> Path:
    with session_factory(url)() as s:
        return write_register_xlsx(s, path, as_of=as_of)


def test_excel_round_trip_into_an_empty_ledger(db_url, sqlite_template, tmp_path):
    demo_ledger(db_url, tmp_path)
    sheet = _export(db_url, tmp_path / "export.xlsx")
    empty = tmp_path / "empty.db"
    shutil.copy(sqlite_template, empty)
    sqlite_url = f"sqlite:///{empty}"
    # Imported two weeks later: relative phrases were written as dates, so nothing moves.
    with session_factory(sqlite_url)() as s, s.begin():
        result = import_register(s, [sheet], day=date(2026, 12, 14), calendar=CAL)
    assert sorted(result.created) == sorted(i[0] for i in ITEMS)
    assert _register_snapshot(sqlite_url) == _register_snapshot(db_url)


def test_excel_layout(sqlite_url, tmp_path):
    from openpyxl import load_workbook

    demo_ledger(sqlite_url, tmp_path)
    wb = load_workbook(_export(sqlite_url, tmp_path / "export.xlsx"))
    ws = wb["问题整改清单"]
    assert ws["A1"].value == "附件2" and ws["A2"].value == "问题整改清单"
    assert ws["A3"].value == "填报单位：中共××局党组" and ws["G3"].value == "填报日期：2026年11月30日"
    assert [c.value for c in ws[4]] == [
        "序号",
        "问题来源",
        "问题类别",
        "问题描述",
        "整改措施",
        "责任领导",
        "责任部门",
        "责任人",
        "整改时限",
        "整改进展",
        "完成情况",
        "备注",
        "状态",
    ]
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert "A2:M2" in merged  # the title row
    # ZG-2026-001 has two measures on rows 5-6: its problem columns are merged, measures not
    assert ws["A5"].value == "ZG-2026-001" and {"A5:A6", "D5:D6", "F5:F6"} <= merged
    assert not any(r.startswith("E5") or r.startswith("I5") for r in merged)
    assert ws["I6"].value == "2026年11月9日"  # 立行立改 from 11-02, written as the date
    assert ws["I5"].value == "2026年12月31日"  # 12月底前 has no year: written as the date
    assert [c.value for c in wb["人员名单"][1]] == ["姓名", "职务", "部门", "邮箱", "角色"]
    assert wb["人员名单"].max_row == 1 + 9


def test_excel_round_trip_into_the_same_ledger_changes_nothing(db_url, tmp_path):
    """The ledger as the export writes it (relative phrases already dates) re-imports as
    all-unchanged, with no new audit records."""
    demo_ledger(db_url, tmp_path)
    sheet = _export(db_url, tmp_path / "export.xlsx")
    with session_factory(db_url)() as s, s.begin():  # once: the wording becomes the dates
        import_register(s, [sheet], day=AS_OF, calendar=CAL, actor="陈静")
    before = _register_snapshot(db_url)
    sheet = _export(db_url, tmp_path / "export2.xlsx")
    with session_factory(db_url)() as s:
        audits = s.execute(select(func.count(AuditRecord.id))).scalar_one()
    with session_factory(db_url)() as s, s.begin():
        result = import_register(s, [sheet], day=date(2026, 12, 14), calendar=CAL, actor="陈静")
    assert result.created == [] and result.updated == []
    assert sorted(result.unchanged) == sorted(i[0] for i in ITEMS)
    assert result.people_created == [] and result.people_updated == []
    with session_factory(db_url)() as s:
        assert s.execute(select(func.count(AuditRecord.id))).scalar_one() == audits
    assert _register_snapshot(db_url) == before


def test_first_re_import_of_relative_phrases_changes_nothing(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    sheet = _export(sqlite_url, tmp_path / "export.xlsx")
    with session_factory(sqlite_url)() as s, s.begin():
        result = import_register(s, [sheet], day=AS_OF, calendar=CAL, actor="陈静")
    assert result.updated == []


@pytest.mark.flow
def test_flow_writes_files_and_publishes_the_artifact(prefect_harness, sqlite_url, settings_env, tmp_path):
    from prefect.artifacts import Artifact

    from flows.report import next_steps_report

    demo_ledger(sqlite_url, tmp_path)
    settings_env(sqlite_url)
    out = tmp_path / "reports"
    paths = next_steps_report(as_of=AS_OF, out_dir=str(out), formats=["md", "docx"])
    assert set(paths) == {"md", "docx"} and all(Path(p).exists() for p in paths.values())
    artifact = Artifact.get("next-steps-report")
    assert artifact is not None and artifact.type == "markdown"
    assert "整改率8.3%" in artifact.data and "三、下一步打算" in artifact.data
    files = Artifact.get("next-steps-report-files")
    assert Path(paths["docx"]).name in files.data


def test_cli_report_errors_are_one_line(sqlite_url, settings_env, tmp_path):
    from typer.testing import CliRunner

    from rectify.cli import app

    settings_env(sqlite_url)
    runner = CliRunner()
    for args, message in (
        (["report", "--format", "doc"], "错误：未知的报告格式：doc"),
        (["report", "--as-of", "2026-13-01"], "错误：日期“2026-13-01”格式不正确"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(message)


@pytest.mark.flow
def test_cli_report_runs_the_flow(prefect_harness, sqlite_url, settings_env, tmp_path, monkeypatch):
    """With a server configured (PREFECT_API_URL), the command runs the flow."""
    from prefect.settings import PREFECT_API_URL
    from typer.testing import CliRunner

    from rectify.cli import app

    demo_ledger(sqlite_url, tmp_path)
    settings_env(sqlite_url)
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    result = CliRunner().invoke(
        app, ["report", "--as-of", "2026-11-30", "--format", "html,md", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    html = tmp_path / "o" / "整改工作情况报告-2026-11-30.html"
    assert str(html) in result.output and "整改率8.3%" in html.read_text(encoding="utf-8")
    assert "未设置 PREFECT_API_URL" not in result.output


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice (soffice) not installed")
def test_word_document_opens_in_libreoffice(sqlite_url, tmp_path):
    import re
    import subprocess

    demo_ledger(sqlite_url, tmp_path)
    path = tmp_path / "r.docx"
    build_docx(report_as_of(sqlite_url, AS_OF)).save(path)
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = (tmp_path / "r.pdf").read_bytes()
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 3

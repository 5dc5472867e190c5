"""The report as a 公文 (issue 11): the command's direct path, the parts of a 报告 in order in
every format, dates in one form, measures past their own deadline, and the Word file read back
(settings, zh-CN, properties, grid, odd/even page numbers, column widths)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn

from sqlalchemy import select

from models.db import session_factory
from rectify.report.docx import build_docx
from rectify.report.document import build_document, quoted
from rectify.report.output import produce_report
from rectify.report.render import render_html, render_markdown
from rectify.report.wording import Office, cn_dates
from rectify.settings import Settings
from ledger_helpers import env_for
from report_helpers import AS_OF, demo_ledger, report_as_of

OFFICE = Office(org_name="中共示范区经济发展局党组", report_to="中共示范区委", dated=date(2026, 12, 1))
PARTS = ["一、整改工作开展情况", "二、存在的问题", "三、下一步打算"]


def office_report(url: str, day: date = AS_OF, office: Office = OFFICE):
    from rectify.report.figures import compile_report
    from rectify.workdays import get_calendar

    with session_factory(url)() as s:
        return compile_report(s, day, get_calendar(), 30, office=office)


def test_dates_inside_free_text_take_one_form():
    assert cn_dates("召开银企对接会（2026/11/20）") == "召开银企对接会（2026年11月20日）"
    assert (
        cn_dates("2026.11.20前、2026-1-5、2026年01月05日") == "2026年11月20日前、2026年1月5日、2026年1月5日"
    )
    assert cn_dates("版本 2026.13.40 与电话 12026.11.20") == "版本 2026.13.40 与电话 12026.11.20"


def test_document_parts_in_the_order_of_gbt_9704(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    r = office_report(sqlite_url)
    blocks = build_document(r)
    kinds = [b.kind for b in blocks]
    texts = [b.text for b in blocks]
    assert kinds[:3] == ["title", "to", "p"]
    assert texts[0] == "中共示范区经济发展局党组关于问题整改工作进展情况的报告"
    assert texts[1] == "中共示范区委："
    assert texts[2].endswith("：") and "截至2026年11月30日" in texts[2]
    h1 = [b.text for b in blocks if b.kind == "h1"]
    assert h1 == PARTS
    end = texts.index("特此报告。")
    assert kinds[end + 1 : end + 4] == ["note", "sign", "date"]
    assert blocks[end + 1].lines == ["1．问题整改情况统计表", "2．问题整改清单"]
    assert texts[end + 2] == "中共示范区经济发展局党组" and texts[end + 3] == "2026年12月1日"
    # 成文日期 starts 2 characters right of the 署名's first character (no seal, §7.3.5.2)
    sign, dated = blocks[end + 2], blocks[end + 3]
    date_width = 3 + 0.5 * 7  # 年月日 + seven half-width digits
    assert dated.indent >= 2 and abs((len(sign.text) + sign.indent) - (dated.indent + date_width) - 2) <= 0.5
    assert kinds[end + 4 : end + 6] == ["break", "label"] and texts[end + 5] == "附件1"
    # breakdowns are sentences in part 一 under （二）从问题类别看 …; tables only after 特此报告
    assert "（二）从问题类别看" in texts and "（五）从责任领导看" in texts
    assert all(k != "table" for k in kinds[:end])
    category = texts[texts.index("（二）从问题类别看") + 1]
    assert category.startswith("班子问题4个，已完成整改1个，正在推进3个（其中逾期1个）；")


def test_natural_wording(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    nothing_closed = "\n".join(b.text for b in build_document(office_report(sqlite_url, date(2026, 11, 24))))
    assert (
        "取得了" not in nothing_closed
        and "对照整改要求，整改工作还存在一些问题，主要表现在：" in nothing_closed
    )
    text = "\n".join(b.text for b in build_document(office_report(sqlite_url)))
    assert "整改工作取得了阶段性成效" in text and "尽管" not in text
    assert "（一）周建国同志牵头的问题（5个）" in text
    assert (
        "涉及周建国同志、吴海燕同志、郑永强同志牵头的问题" in text
    )  # 001 is overdue by its measure (oldest first)
    assert re.search(r"^一是针对“.+”问题（ZG-2026-0\d\d，责任人.+），", text, re.M)
    # nested quotation marks: ‘…’ inside “…”
    assert quoted("利用微信群、钉钉群每周推送“党史百年天天读”学习资料") == (
        "“利用微信群、钉钉群每周推送‘党史百年天天读’学习资料”"
    )


def test_a_measure_past_its_own_deadline_is_marked(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    r = office_report(sqlite_url)
    item = next(i for g in r.next_steps for i in g.items if i.code == "ZG-2026-001")
    # the item's latest deadline is ahead, but its 立行立改 measure from 11-02 (11-09) is not
    # done: the item is overdue from that measure's deadline (rectify.measures' rule)
    assert item.deadline == date(2026, 12, 31) and item.overdue and item.overdue_since == date(2026, 11, 9)
    late = item.measures[1]
    assert late.overdue and late.overdue_workdays == 15
    assert late.due_phrase == "立行立改，2026年11月9日前完成，已超期15个工作日"
    assert item.measures[0].due_phrase == "2026年12月底前完成"
    for text in (render_markdown(r), render_html(r)):
        assert "（立行立改，2026年11月9日前完成，已超期15个工作日）" in text
        assert "整改时限为2026年11月9日，已逾期15个工作日" in text  # part 二 names the measure's date
    # on an earlier day nothing is late yet
    early = office_report(sqlite_url, date(2026, 11, 6))
    assert not any(m.overdue for i in early.all_open for m in i.measures)


def test_a_done_measure_is_never_marked_late(sqlite_url, tmp_path):
    from sqlalchemy import update

    from models import Item, Measure

    demo_ledger(sqlite_url, tmp_path)
    with session_factory(sqlite_url).begin() as s:
        item_id = s.scalar(select(Item.id).where(Item.code == "ZG-2026-001"))
        s.execute(
            update(Measure)
            .where(Measure.item_id == item_id, Measure.position == 1)
            .values(done_on=date(2026, 11, 20), done_note="已推送")
        )
    item = next(i for g in office_report(sqlite_url).next_steps for i in g.items if i.code == "ZG-2026-001")
    assert not item.overdue and not item.measures[1].overdue
    assert item.measures[1].due_phrase == "立行立改，2026年11月9日前完成，已于2026年11月20日完成"
    # as of a day before it was done, it was late
    before = office_report(sqlite_url, date(2026, 11, 19))
    assert next(i for i in before.overdue if i.code == "ZG-2026-001").measures[1].overdue


def test_every_date_a_person_reads_is_written_in_chinese(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    r = office_report(sqlite_url)
    docx = tmp_path / "r.docx"
    build_docx(r).save(docx)
    doc = Document(str(docx))
    word = "\n".join(p.text for p in doc.paragraphs) + "\n".join(
        c.text for t in doc.tables for row in t.rows for c in row.cells
    )
    numeric = re.compile(r"\d{4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}")
    for name, text in (("md", render_markdown(r)), ("html", render_html(r)), ("docx", word)):
        body = re.sub(r"<style>.*?</style>", "", text, flags=re.S)
        assert not numeric.search(body), (name, numeric.search(body))
        # 005's measures were written "2026/11/20" and "2026.11.20" in the register
        assert "2026年11月20日前完成，已超期6个工作日" in body, name


def _xml(path: Path, part: str) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(part).decode("utf-8")


def test_word_file_in_gbt_9704_form(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    r = office_report(sqlite_url)
    path = tmp_path / "r.docx"
    before = datetime.now(timezone.utc) - timedelta(seconds=2)
    build_docx(r).save(path)
    doc = Document(str(path))
    styles = [p.style.name for p in doc.paragraphs]
    texts = [p.text for p in doc.paragraphs]
    # the title broken after the issuing body (GB/T 9704: 回行时词意完整)
    assert texts[:2] == ["中共示范区经济发展局党组\n关于问题整改工作进展情况的报告", "中共示范区委："]
    assert styles[:2] == ["Report Title", "Addressee"]
    assert [t for t, s in zip(texts, styles) if s == "Heading 1"] == PARTS
    end = texts.index("特此报告。")
    assert styles[end + 1 : end + 5] == ["Attachment Note", "Attachment Note More", "Signature", "Date"]
    assert texts[end + 3 : end + 5] == ["中共示范区经济发展局党组", "2026年12月1日"]
    assert styles[end + 5] == "Attachment Label" and texts[end + 5] == "附件1"
    assert doc.styles["Attachment Label"].paragraph_format.page_break_before
    # document grid 28 × 22
    grid = doc.sections[0]._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:type")) == "linesAndChars"
    assert grid.get(qn("w:linePitch")) == "579" and grid.get(qn("w:charSpace")) == "-849"
    # page numbers: odd right, even left, evenAndOddHeaders on
    settings = _xml(path, "word/settings.xml")
    assert "<w:evenAndOddHeaders/>" in settings
    sec = doc.sections[0]
    odd, even = sec.footer.paragraphs[0], sec.even_page_footer.paragraphs[0]
    assert odd.text == "— 1 —" and even.text == "— 1 —"
    assert odd.style.paragraph_format.alignment == 2 and even.style.paragraph_format.alignment == 0
    assert "PAGE" in sec.even_page_footer._element.xml
    # zh-CN, no Japanese defaults or faces
    assert 'w:eastAsia="zh-CN"' in settings and "ja-JP" not in settings
    styles_xml = _xml(path, "word/styles.xml")
    assert "ja-JP" not in styles_xml and 'w:eastAsia="zh-CN"' in styles_xml
    fonts = _xml(path, "word/fontTable.xml")
    assert "ＭＳ" not in fonts and "仿宋_GB2312" in fonts and "方正小标宋简体" in fonts
    assert "ＭＳ" not in _xml(path, "word/theme/theme1.xml")
    # core properties from the office
    props = doc.core_properties
    assert props.title == r.title and props.author == "中共示范区经济发展局党组"
    created = props.created if props.created.tzinfo else props.created.replace(tzinfo=timezone.utc)
    assert created >= before and props.language == "zh-CN"
    assert "python-docx" not in (props.author + props.comments + props.last_modified_by)
    # tables: fixed widths that fit the line, codes and dates wide enough, cells centred
    overdue = doc.tables[-1]
    widths = [int(c.get(qn("w:w"))) for c in overdue._tbl.tblGrid.findall(qn("w:gridCol"))]
    assert sum(widths) <= 8844
    assert (
        widths[1] >= 1200 and widths[5] >= 1800 and widths[0] >= 560
    )  # ZG-2026-007 / 2026年11月13日 at 10.5 pt
    cell = overdue.rows[1].cells[1]
    assert cell.paragraphs[0].alignment == 1 and cell.vertical_alignment == 1
    assert overdue.rows[1].cells[2].paragraphs[0].alignment == 0  # description left-aligned


def test_settings_name_the_office(sqlite_url, settings_env, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    settings_env(
        sqlite_url,
        org_name="中共甲县农业农村局党组",
        report_to="中共甲县县委",
        report_title="中共甲县农业农村局党组关于巡察反馈问题整改进展情况的报告",
    )
    with session_factory(sqlite_url)() as s:
        done = produce_report(s, AS_OF, tmp_path / "o", ["md", "docx"], Settings(), dated=date(2026, 12, 2))
    md = done.markdown
    assert md.startswith("# 中共甲县农业农村局党组关于巡察反馈问题整改进展情况的报告\n")
    assert "\n中共甲县县委：\n" in md and md.index("特此报告。") < md.index(
        "中共甲县农业农村局党组\n\n2026年12月2日"
    )
    assert Document(str(done.paths["docx"])).core_properties.author == "中共甲县农业农村局党组"
    # defaults: the customary placeholders
    assert report_as_of(sqlite_url, AS_OF).title == "中共××局党组关于问题整改工作进展情况的报告"


# --- the command's direct path --------------------------------------------------------------


def test_report_without_a_server_writes_directly_without_prefect(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    out = tmp_path / "out"
    code = (
        "import sys\n"
        "from rectify.cli import app\n"
        "try:\n"
        f"    app(['report', '--as-of', '2026-11-30', '--out', {str(out)!r}], standalone_mode=False)\n"
        "finally:\n"
        "    print('PREFECT_LOADED' if any(m.split('.')[0] == 'prefect' for m in sys.modules) else 'NO_PREFECT')\n"
    )
    env = env_for(sqlite_url, PREFECT_HOME=str(tmp_path / "prefect-home"))
    env.pop("PREFECT_API_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "NO_PREFECT"
    notes = [line for line in lines if "PREFECT_API_URL" in line]
    assert len(notes) == 1 and "发布为 Prefect 产物" in notes[0]
    for name in (
        "整改工作情况报告-2026-11-30.md",
        "整改工作情况报告-2026-11-30.html",
        "整改工作情况报告-2026-11-30.docx",
        "问题整改清单-2026-11-30.xlsx",
    ):
        assert (out / name).stat().st_size > 0 and str(out / name) in result.stdout


def test_a_profile_with_a_server_is_a_server(tmp_path, monkeypatch):
    from rectify.cli.report import prefect_api_url

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    assert prefect_api_url() is None
    (tmp_path / "profiles.toml").write_text(
        'active = "work"\n[profiles.work]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n', encoding="utf-8"
    )
    assert prefect_api_url() == "http://127.0.0.1:4200/api"
    monkeypatch.setenv("PREFECT_PROFILE", "other")
    assert prefect_api_url() is None
    monkeypatch.setenv("PREFECT_API_URL", "http://x/api")
    assert prefect_api_url() == "http://x/api"


# --- HTML that prints, PDF through LibreOffice ----------------------------------------------


def test_html_prints_on_a4_with_whole_rows(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    html = render_html(office_report(sqlite_url))
    assert "@page { size: A4;" in html and "break-inside: avoid" in html
    assert "thead { display: table-header-group; }" in html
    assert '<col style="width: 6.3%">' in html  # 序号 of the overdue list: 560 of 8844 twips
    row = next(line for line in html.splitlines() if 'class="overdue"' in line and "ZG-2026-007" in line)
    assert "已逾期11个工作日" in row  # overdue in words, not only in red
    assert html.index("<h1>中共示范区经济发展局党组<br>关于问题整改工作进展情况的报告</h1>") < html.index(
        "特此报告。"
    )


def test_pdf_refused_in_one_line_without_libreoffice(sqlite_url, tmp_path):
    from ledger_helpers import assert_one_error

    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = env_for(sqlite_url, PATH=str(bare))
    env.pop("PREFECT_API_URL", None)
    code = (
        f"from rectify.cli import app; app(['report', '--format', 'pdf', '--out', {str(tmp_path / 'o')!r}])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    line = assert_one_error(result)
    assert "未找到 LibreOffice（soffice）" in line and not (tmp_path / "o").exists()


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice (soffice) not installed")
def test_pdf_through_libreoffice_with_the_alias_fonts(sqlite_url, tmp_path):
    demo_ledger(sqlite_url, tmp_path)
    with session_factory(sqlite_url)() as s:
        done = produce_report(s, AS_OF, tmp_path / "o", ["pdf"], Settings())
    pdf = done.paths["pdf"]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 5
    assert not (tmp_path / "o" / "整改工作情况报告-2026-11-30.docx").exists()  # only what was asked
    fonts = (
        subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
        if shutil.which("pdffonts")
        else ""
    )
    if fonts:  # the aliases: 标宋 → Noto Serif CJK Bold, 黑体 → Noto Sans CJK, no Japanese default for all
        assert "NotoSerifCJK" in fonts and "NotoSansCJK" in fonts
        assert len({line.split()[0].split("+")[-1] for line in fonts.splitlines()[2:]}) >= 3


def test_measures_extensions_reporting_and_recheck_reach_the_report(sqlite_url, tmp_path):
    """The figures issue 12 adds (rectify.measures, .extensions, .reporting, .recheck) are in
    the report's text, as of its date."""
    from rectify import extensions, recheck, workflow
    from report_helpers import CAL

    demo_ledger(sqlite_url, tmp_path)
    with session_factory(sqlite_url).begin() as s:
        owner, sec = workflow.get_person(s, "孙丽"), workflow.get_person(s, "陈静")
        extensions.request(
            s,
            "ZG-2026-004",
            2,
            owner,
            date(2026, 11, 23),
            to=date(2026, 12, 18),
            reason="需等人社部门12月数据",
            calendar=CAL,
        )
        extensions.decide(
            s, "ZG-2026-004", 2, sec, date(2026, 11, 24), approve=True, comment="同意", calendar=CAL
        )
        recheck.confirm(s, "ZG-2026-012", sec, date(2026, 11, 27), comment="制度已执行")
    text = "\n".join(b.text for b in build_document(office_report(sqlite_url)))
    assert "经批准延期1项（ZG-2026-004第2条措施由2026年11月23日延至2026年12月18日）" in text
    assert "已完成2条" in text  # 012's two measures, completed by its submission
    assert "对已销号问题开展“回头看”1个，其中整改成果巩固1个、出现反弹0个。" in text
    # as of a day before the extension and the 回头看, neither is counted
    earlier = "\n".join(b.text for b in build_document(office_report(sqlite_url, date(2026, 11, 23))))
    assert "经批准延期1项" not in earlier and "对已销号问题开展" not in earlier

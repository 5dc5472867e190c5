"""The report as a Word document in official-document style (党政机关公文格式 GB/T 9704).

A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm; title in 方正小标宋简体 二号
(22 pt) centred; body in 仿宋_GB2312 三号 (16 pt) at a fixed 28 pt line pitch (22 lines a page);
first-level headings 黑体, second-level 楷体_GB2312; page numbers "— 1 —" in the footer.

Fonts: Word has no per-run fallback list, so each run names the official face in w:eastAsia
and the font table carries w:altName (宋体, 仿宋, 楷体) — what Word and LibreOffice substitute
on a machine without the GB2312 fonts.

Tables repeat their header row on every page (w:tblHeader) and never split a row across pages
(w:cantSplit). They are built as one XML string per table and parsed once: python-docx's
`add_row`/`cell()` costs milliseconds per row, far too slow for 10,000 items (bench/bench_report.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Mm, Pt
from lxml import etree

from rectify.report.figures import Report
from rectify.report.render import cn_number

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING1_FONT = "黑体"
HEADING2_FONT = "楷体_GB2312"
LATIN_FONT = "Times New Roman"
# What a machine without the official GB2312 faces should use instead (font table w:altName).
ALT_NAMES = {TITLE_FONT: "宋体", BODY_FONT: "仿宋", HEADING2_FONT: "楷体", HEADING1_FONT: "SimHei"}

TEXT_WIDTH = 8844  # twips: 210 mm − 28 mm − 26 mm = 156 mm
TABLE_PT = 10.5  # 五号: seven columns of Chinese text fit the 156 mm line

# Characters XML 1.0 forbids (a description pasted from elsewhere may carry them).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _set_fonts(style, east_asia: str, size_pt: float, *, bold: bool = False) -> None:
    """Explicit fonts on the style: drop theme fonts, which would otherwise win."""
    style.font.size = Pt(size_pt)
    style.font.bold = bold
    style.font.italic = False
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = etree.SubElement(rpr, qn("w:rFonts"))
        rpr.remove(fonts)
        rpr.insert(0, fonts)
    for key in list(fonts.attrib):
        del fonts.attrib[key]
    fonts.set(qn("w:ascii"), LATIN_FONT)
    fonts.set(qn("w:hAnsi"), LATIN_FONT)
    fonts.set(qn("w:cs"), LATIN_FONT)
    fonts.set(qn("w:eastAsia"), east_asia)
    fonts.set(qn("w:hint"), "eastAsia")
    color = rpr.find(qn("w:color"))
    if color is not None:
        rpr.remove(color)


def _paragraph_style(doc, name: str, east_asia: str, size_pt: float, *, align=None,
                     first_line_chars: float = 0, line_pt: float | None = None,
                     before_pt: float = 0, after_pt: float = 0, outline: int | None = None):
    styles = doc.styles
    try:
        style = styles[name]
    except KeyError:
        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    if name != "Normal":
        style.base_style = styles["Normal"]
    _set_fonts(style, east_asia, size_pt)
    pf = style.paragraph_format
    pf.alignment = align
    pf.first_line_indent = Pt(size_pt * first_line_chars) if first_line_chars else Pt(0)
    pf.space_before, pf.space_after = Pt(before_pt), Pt(after_pt)
    if line_pt:
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        pf.line_spacing = Pt(line_pt)
    else:
        pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
    pf.widow_control = True
    if outline is not None:
        pf.keep_with_next = True
    return style


def _setup_styles(doc) -> dict[str, str]:
    _paragraph_style(doc, "Normal", BODY_FONT, 16, align=WD_ALIGN_PARAGRAPH.JUSTIFY,
                     first_line_chars=2, line_pt=28)
    styles = {
        "title": _paragraph_style(doc, "Report Title", TITLE_FONT, 22, align=WD_ALIGN_PARAGRAPH.CENTER,
                                  line_pt=36, after_pt=0),
        "as_of": _paragraph_style(doc, "Report Date", HEADING2_FONT, 16, align=WD_ALIGN_PARAGRAPH.CENTER,
                                  line_pt=28, after_pt=14),
        "h1": _paragraph_style(doc, "Heading 1", HEADING1_FONT, 16, first_line_chars=2, line_pt=28,
                               outline=0),
        "h2": _paragraph_style(doc, "Heading 2", HEADING2_FONT, 16, first_line_chars=2, line_pt=28,
                               outline=1),
        "cell": _paragraph_style(doc, "Table Text", BODY_FONT, TABLE_PT, align=WD_ALIGN_PARAGRAPH.LEFT),
        "head": _paragraph_style(doc, "Table Head", HEADING1_FONT, TABLE_PT, align=WD_ALIGN_PARAGRAPH.CENTER),
        "footer": _paragraph_style(doc, "Page Number", "宋体", 14, align=WD_ALIGN_PARAGRAPH.CENTER),
    }
    # Chinese text: the East Asian language drives line breaking and punctuation compression.
    lang = doc.styles["Normal"].element.get_or_add_rPr()
    lang.append(parse_xml(f'<w:lang {nsdecls("w")} w:val="en-US" w:eastAsia="zh-CN"/>'))
    return {key: style.style_id for key, style in styles.items()}


def _add_alt_names(doc) -> None:
    part = next(p for p in doc.part.package.iter_parts() if str(p.partname) == "/word/fontTable.xml")
    root = etree.fromstring(part.blob)
    w = root.nsmap.get("w") or "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    for name, alt in ALT_NAMES.items():
        font = etree.SubElement(root, f"{{{w}}}font")
        font.set(f"{{{w}}}name", name)
        etree.SubElement(font, f"{{{w}}}altName").set(f"{{{w}}}val", alt)
        etree.SubElement(font, f"{{{w}}}charset").set(f"{{{w}}}val", "86")  # GB2312
        etree.SubElement(font, f"{{{w}}}family").set(f"{{{w}}}val", "roman")
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _page_setup(section) -> None:
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(28)  # the page number sits 7 mm below the text block


def _page_number(section, style_id: str) -> None:
    footer = section.footer
    p = footer.paragraphs[0]._p
    p.getparent().replace(p, parse_xml(
        f'<w:p {nsdecls("w")}><w:pPr><w:pStyle w:val="{style_id}"/></w:pPr>'
        '<w:r><w:t xml:space="preserve">— </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        '<w:r><w:t>1</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        '<w:r><w:t xml:space="preserve"> —</w:t></w:r></w:p>'
    ))


def _runs(text: str) -> str:
    text = _XML_INVALID.sub("", str(text))
    lines = [escape(line) for line in re.split(r"\r\n|\r|\n", text)]
    return "<w:br/>".join(f'<w:t xml:space="preserve">{line}</w:t>' for line in lines)


def _cell(width: int, paragraphs: list[str], style_id: str, align: str | None = None) -> str:
    jc = f'<w:jc w:val="{align}"/>' if align else ""
    body = "".join(
        f'<w:p><w:pPr><w:pStyle w:val="{style_id}"/>{jc}</w:pPr><w:r>{_runs(t)}</w:r></w:p>'
        for t in (paragraphs or [""])
    )
    return f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/></w:tcPr>{body}</w:tc>'


def table_xml(headers: list[str], widths: list[int], rows, styles: dict[str, str],
              numeric: frozenset[int] = frozenset()) -> str:
    """One <w:tbl> as a string. A row's cell is a str or a list of str (one paragraph each)."""
    out = [
        f'<w:tbl {nsdecls("w")}><w:tblPr><w:tblStyle w:val="TableGrid"/>'
        f'<w:tblW w:w="{sum(widths)}" w:type="dxa"/><w:jc w:val="center"/>'
        '<w:tblLayout w:type="fixed"/>'
        '<w:tblCellMar><w:left w:w="57" w:type="dxa"/><w:right w:w="57" w:type="dxa"/></w:tblCellMar>'
        '<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="0" w:lastColumn="0" '
        'w:noHBand="0" w:noVBand="1"/></w:tblPr><w:tblGrid>',
        *(f'<w:gridCol w:w="{w}"/>' for w in widths),
        '</w:tblGrid><w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>',
        *(_cell(w, [h], styles["head"]) for w, h in zip(widths, headers)),
        "</w:tr>",
    ]
    for row in rows:
        out.append("<w:tr><w:trPr><w:cantSplit/></w:trPr>")
        for i, (w, value) in enumerate(zip(widths, row)):
            paras = value if isinstance(value, list) else [str(value)]
            out.append(_cell(w, paras, styles["cell"], "right" if i in numeric else None))
        out.append("</w:tr>")
    out.append("</w:tbl>")
    return "".join(out)


BREAKDOWN_WIDTHS = [2844, 1000, 1000, 1000, 1000, 1000, 1000]
OVERDUE_WIDTHS = [560, 1200, 3084, 1000, 1000, 1100, 900]
NEXT_WIDTHS = [560, 1200, 2100, 2400, 820, 1000, 764]


def build_docx(report: Report):
    doc = Document()
    section = doc.sections[0]
    _page_setup(section)
    styles = _setup_styles(doc)
    _add_alt_names(doc)
    _page_number(section, styles["footer"])
    body = doc.element.body

    def para(text: str, style: str | None = None) -> None:
        p = doc.add_paragraph(text)
        if style:
            p.style = doc.styles[style]

    def table(headers, widths, rows, numeric=frozenset()) -> None:
        body.sectPr.addprevious(parse_xml(table_xml(headers, widths, rows, styles, numeric)))

    para(report.title, "Report Title")
    para(f"（截至{report.as_of_label}）", "Report Date")
    para("现将问题整改工作进展情况报告如下。")

    para("一、整改工作开展情况", "Heading 1")
    para(report.summary_sentence + (report.list_sentence if report.summary.total else ""))
    s = report.summary
    for n, b in enumerate((b for b in report.breakdowns if b.rows), 1):
        para(f"（{cn_number(n)}）{b.title}", "Heading 2")
        rows = [[t.name, t.total, t.closed, t.rate_label, t.in_progress, t.overdue, t.ongoing] for t in b.rows]
        rows.append(["合计", s.total, s.closed, s.rate_label, s.in_progress, s.overdue, s.ongoing])
        table([b.column, "问题数", "已完成整改", "整改率", "正在推进", "其中逾期", "长期坚持"],
              BREAKDOWN_WIDTHS, rows, frozenset(range(1, 7)))

    para("二、存在的问题", "Heading 1")
    para(report.problems_sentence)
    n = 0
    if report.overdue:
        n += 1
        para(f"（{cn_number(n)}）逾期未完成整改的问题", "Heading 2")
        table(["序号", "编号", "问题描述", "责任领导", "责任人", "整改时限", "逾期工作日"], OVERDUE_WIDTHS,
              ([k, i.code, i.description, i.leader, i.owner, i.deadline_label, i.overdue_workdays]
               for k, i in enumerate(report.overdue, 1)), frozenset({0, 6}))
    if report.stalled:
        n += 1
        para(f"（{cn_number(n)}）推进滞缓的问题（{report.stalled_after_days}天以上无进展）", "Heading 2")
        table(["序号", "编号", "问题描述", "责任领导", "责任人", "最近进展日期", "无进展天数"], OVERDUE_WIDTHS,
              ([k, i.code, i.description, i.leader, i.owner, i.last_activity.isoformat(), i.idle_days]
               for k, i in enumerate(report.stalled, 1)), frozenset({0, 6}))

    para("三、下一步打算", "Heading 1")
    if not report.next_steps:
        para("问题已全部完成整改。下一步，将持续开展“回头看”，巩固整改成果，防止问题反弹。")
    else:
        para("下一步，将紧盯整改时限，对照问题整改清单逐项抓好落实，逾期问题优先推进，确保问题整改到位。"
             f"尚未完成整改的{report.open_count}个问题按责任领导分列如下。")
        for n, g in enumerate(report.next_steps, 1):
            para(f"（{cn_number(n)}）{g.leader}同志牵头的问题（{len(g.items)}个）", "Heading 2")
            table(["序号", "编号", "问题描述", "整改措施", "责任人", "整改时限", "状态"], NEXT_WIDTHS,
                  ([k, i.code, i.description,
                    [f"{j}. {m.text}（{m.deadline_label}）" for j, m in enumerate(i.measures, 1)],
                    i.owner, i.deadline_label, i.status_label]
                   for k, i in enumerate(g.items, 1)), frozenset({0}))
    return doc


def write_docx(report: Report, path: Path) -> Path:
    build_docx(report).save(str(path))
    return path

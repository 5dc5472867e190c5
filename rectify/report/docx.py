"""The report as a Word document in official-document form (党政机关公文格式 GB/T 9704).

Page: A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm; a document grid of
28 characters × 22 lines (w:docGrid linesAndChars; charSpace −849 = 156 mm / 28 characters at
三号), which Word's page set-up shows; paragraphs do not snap to it (see _setup_styles) but keep
28 characters a line by a 0.4 pt condensed spacing, at a fixed 28 pt pitch. Title in 方正小标宋简体 二号 (22 pt) centred;
body 仿宋_GB2312 三号 (16 pt); first-level headings 黑体, second-level 楷体_GB2312. Page numbers
"— N —" in 四号 宋体, one character in from the right on odd pages and from the left on even
pages (w:evenAndOddHeaders). The text itself comes from rectify/report/document.py.

The styles, the fonts and the document's language (zh-CN) are rectify/report/docx_styles.py's.

Tables repeat their header row on every page (w:tblHeader), never split a row (w:cantSplit),
have fixed column widths wide enough for 编号, dates and headers, and centre their cells except
long text. Paragraphs and tables are built as XML strings and parsed in chunks: python-docx's
add_paragraph/add_row cost milliseconds each, far too slow for 10,000 items.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Mm
from lxml import etree

from rectify.report.contents import Report
from rectify.report.document import Block, Table, build_document
from rectify.report.docx_styles import docx_defaults, setup_styles

TEXT_WIDTH = 8844  # twips: 210 mm − 28 mm − 26 mm = 156 mm
LINE_PITCH = 579  # twips: 225 mm of text height / 22 lines
CHAR_SPACE = -849  # 1/4096 pt per character: (156 mm / 28 − 16 pt) × 4096
CHAR = 320  # twips: one character at 三号 (16 pt), for indents

# Characters XML 1.0 forbids (a description pasted from elsewhere may carry them).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _page_setup(section) -> None:
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(28)  # the page number sits 7 mm below the text block
    sect = section._sectPr
    for old in sect.findall(qn("w:docGrid")):
        sect.remove(old)
    sect.append(
        parse_xml(
            f'<w:docGrid {nsdecls("w")} w:type="linesAndChars" w:linePitch="{LINE_PITCH}" '
            f'w:charSpace="{CHAR_SPACE}"/>'
        )
    )


def _page_number_xml(style_id: str, indent: str) -> str:
    return (
        f'<w:p {nsdecls("w")}><w:pPr><w:pStyle w:val="{style_id}"/><w:ind {indent}/></w:pPr>'
        '<w:r><w:t xml:space="preserve">— </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        "<w:r><w:t>1</w:t></w:r>"
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        '<w:r><w:t xml:space="preserve"> —</w:t></w:r></w:p>'
    )


def _page_numbers(section, styles: dict[str, str]) -> None:
    """Odd pages: right, one character in; even pages: left, one character in (GB/T 9704 §7.5)."""
    for footer, style, indent in (
        (section.footer, styles["footer"], f'w:right="{CHAR - 40}"'),
        (section.even_page_footer, styles["footer_even"], f'w:left="{CHAR - 40}"'),
    ):
        p = footer.paragraphs[0]._p
        p.getparent().replace(p, parse_xml(_page_number_xml(style, indent)))


def _properties(doc, report: Report) -> None:
    props = doc.core_properties
    now = datetime.now(timezone.utc).replace(microsecond=0)
    props.title = report.title
    props.subject = f"问题整改工作进展情况（截至{report.as_of_label}）"
    props.author = props.last_modified_by = report.office.org_name
    props.comments = ""
    props.keywords = "问题整改;整改台账"
    props.category = "报告"
    props.language = "zh-CN"
    props.created = props.modified = now
    props.revision = 1


def _text(text: str) -> str:
    text = _XML_INVALID.sub("", str(text))
    lines = [escape(line) for line in re.split(r"\r\n|\r|\n", text)]
    return "<w:br/>".join(f'<w:t xml:space="preserve">{line}</w:t>' for line in lines)


def _para(style_id: str, text: str, ppr: str = "") -> str:
    return f'<w:p><w:pPr><w:pStyle w:val="{style_id}"/>{ppr}</w:pPr><w:r>{_text(text)}</w:r></w:p>'


def _cell(width: int, text: str, style_id: str, align: str) -> str:
    return (
        f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/><w:vAlign w:val="center"/></w:tcPr>'
        f'<w:p><w:pPr><w:pStyle w:val="{style_id}"/><w:jc w:val="{align}"/></w:pPr>'
        f"<w:r>{_text(text)}</w:r></w:p></w:tc>"
    )


def table_xml(table: Table, styles: dict[str, str]) -> str:
    """One <w:tbl> as a string: fixed widths, header row repeated, rows never split."""
    widths = table.widths
    out = [
        '<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/>'
        f'<w:tblW w:w="{sum(widths)}" w:type="dxa"/><w:jc w:val="center"/>'
        '<w:tblBorders><w:top w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
        '<w:left w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
        '<w:bottom w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
        '<w:right w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
        '<w:insideH w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
        '<w:insideV w:val="single" w:sz="4" w:space="0" w:color="000000"/></w:tblBorders>'
        '<w:tblLayout w:type="fixed"/>'
        '<w:tblCellMar><w:left w:w="57" w:type="dxa"/><w:right w:w="57" w:type="dxa"/></w:tblCellMar>'
        '<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="0" w:lastColumn="0" '
        'w:noHBand="0" w:noVBand="1"/></w:tblPr><w:tblGrid>',
        *(f'<w:gridCol w:w="{w}"/>' for w in widths),
        "</w:tblGrid><w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>",
        *(_cell(w, h, styles["head"], "center") for w, h in zip(widths, table.headers)),
        "</w:tr>",
    ]
    for row in table.rows:
        out.append("<w:tr><w:trPr><w:cantSplit/></w:trPr>")
        for i, (w, value) in enumerate(zip(widths, row)):
            out.append(_cell(w, value, styles["cell"], "left" if i in table.text else "center"))
        out.append("</w:tr>")
    out.append("</w:tbl>")
    return "".join(out)


def _block_xml(b: Block, styles: dict[str, str]) -> str:
    if b.kind == "table":
        return table_xml(b.table, styles)
    if b.kind == "note":  # 附件：1．… then 2．… aligned under 1．
        return "".join(
            _para(styles["note"], f"附件：{line}")
            if k == 0
            else _para(styles["note2"], line, f'<w:ind w:left="{5 * CHAR}" w:leftChars="500"/>')
            for k, line in enumerate(b.lines)
        )
    if b.kind in ("sign", "date"):
        return _para(
            styles[b.kind], b.text, f'<w:ind w:right="{b.indent * CHAR}" w:rightChars="{b.indent * 100}"/>'
        )
    if b.kind == "break":
        return ""  # the attachment label's style starts a new page
    if b.kind == "p":
        return f"<w:p><w:r>{_text(b.text)}</w:r></w:p>"
    if b.kind == "title":  # broken where document.title_lines breaks it
        return _para(styles["title"], "\n".join(b.lines or [b.text]))
    return _para(styles[b.kind], b.text)


def build_docx(report: Report):
    doc = Document()
    section = doc.sections[0]
    _page_setup(section)
    styles = setup_styles(doc)
    docx_defaults(doc)
    _page_numbers(section, styles)
    _properties(doc, report)
    # The whole body parsed once and swapped in: moving thousands of parsed paragraphs into the
    # document one by one (addprevious) re-walks the tree each time, minutes at 10,000 items.
    body = doc.element.body
    sect = etree.tostring(body.sectPr, encoding="unicode")
    xml = "".join(_block_xml(block, styles) for block in build_document(report))
    doc.element.replace(body, parse_xml(f"<w:body {nsdecls('w', 'r')}>{xml}{sect}</w:body>"))
    return doc


def write_docx(report: Report, path: Path) -> Path:
    build_docx(report).save(str(path))
    return path

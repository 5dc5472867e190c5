"""The report as a Word document in official-document form (党政机关公文格式 GB/T 9704).

Page: A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm; a document grid of
28 characters × 22 lines (w:docGrid linesAndChars; charSpace −849 = 156 mm / 28 characters at
三号), which Word's page set-up shows; paragraphs do not snap to it (see _setup_styles) but keep
28 characters a line by a 0.4 pt condensed spacing, at a fixed 28 pt pitch. Title in 方正小标宋简体 二号 (22 pt) centred;
body 仿宋_GB2312 三号 (16 pt); first-level headings 黑体, second-level 楷体_GB2312. Page numbers
"— N —" in 四号 宋体, one character in from the right on odd pages and from the left on even
pages (w:evenAndOddHeaders). The text itself comes from rectify/report/document.py.

Language: zh-CN for East Asian text in the styles, the document defaults and the theme font
language (python-docx's template says ja-JP, which makes Word and LibreOffice pick Japanese
faces and line-breaking rules); the template's Japanese faces leave the font table, which
names the official faces with w:altName fallbacks (宋体, 仿宋, 楷体, 黑体). A machine without
the official faces maps them with rectify/data/fonts/fontconfig.conf (see rectify/report/pdf.py).

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
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Mm, Pt
from lxml import etree

from rectify.report.document import Block, Table, build_document
from rectify.report.contents import Report

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING1_FONT = "黑体"
HEADING2_FONT = "楷体_GB2312"
PAGE_FONT = "宋体"
# What a machine without the official GB2312 faces should use instead (font table w:altName).
ALT_NAMES = {TITLE_FONT: "宋体", BODY_FONT: "仿宋", HEADING2_FONT: "楷体", HEADING1_FONT: "SimHei",
             PAGE_FONT: "SimSun"}
JAPANESE_FACES = ("ＭＳ 明朝", "ＭＳ ゴシック")

TEXT_WIDTH = 8844  # twips: 210 mm − 28 mm − 26 mm = 156 mm
TABLE_PT = 10.5  # 五号
LINE_PITCH = 579  # twips: 225 mm of text height / 22 lines
CHAR_SPACE = -849  # 1/4096 pt per character: (156 mm / 28 − 16 pt) × 4096
CHAR = 320  # twips: one character at 三号 (16 pt), for indents
CONDENSE = -8  # twentieths of a point: 16 pt − 0.4 pt, 28 characters on the 156 mm line

# Characters XML 1.0 forbids (a description pasted from elsewhere may carry them).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _set_fonts(style, east_asia: str, size_pt: float) -> None:
    """Explicit fonts on the style: drop theme fonts, which would otherwise win."""
    style.font.size = Pt(size_pt)
    style.font.bold = False
    style.font.italic = False
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = etree.SubElement(rpr, qn("w:rFonts"))
        rpr.remove(fonts)
        rpr.insert(0, fonts)
    for key in list(fonts.attrib):
        del fonts.attrib[key]
    # Digits and Latin letters in the same face: LibreOffice would otherwise break a year
    # "2026" across lines between a Latin run and the Chinese text around it.
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), east_asia)
    fonts.set(qn("w:hint"), "eastAsia")
    for tag in ("w:color", "w:lang"):
        old = rpr.find(qn(tag))
        if old is not None:
            rpr.remove(old)
    # Chinese for East Asian text; Latin text and digits stay en-US, or LibreOffice applies
    # Chinese line breaking to them and splits a year "20|26" at the end of a line.
    rpr.append(parse_xml(f'<w:lang {nsdecls("w")} w:val="en-US" w:eastAsia="zh-CN" w:bidi="ar-SA"/>'))


def _paragraph_style(doc, name: str, east_asia: str, size_pt: float, *, align=None,
                     first_line_chars: float = 0, line_pt: float | None = None,
                     before_pt: float = 0, after_pt: float = 0, keep_next: bool = False,
                     page_break: bool = False):
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
    if first_line_chars:  # Word counts the indent in characters of the grid
        pf._element.get_or_add_pPr().get_or_add_ind().set(qn("w:firstLineChars"), str(int(first_line_chars * 100)))
    pf.space_before, pf.space_after = Pt(before_pt), Pt(after_pt)
    if line_pt:
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        pf.line_spacing = Pt(line_pt)
    else:
        pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
    pf.widow_control = True
    pf.keep_with_next = keep_next or None
    pf.page_break_before = page_break or None
    return style


CENTER, LEFT, RIGHT, JUSTIFY = (WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.LEFT,
                                WD_ALIGN_PARAGRAPH.RIGHT, WD_ALIGN_PARAGRAPH.JUSTIFY)


# w:pPr children that come after autoSpaceDE/autoSpaceDN/snapToGrid in the schema's sequence
# (Word refuses a file whose paragraph properties are out of order).
_PPR_LATER = [qn(f"w:{t}") for t in ("bidi", "adjustRightInd", "snapToGrid", "spacing", "ind",
                                     "contextualSpacing", "mirrorIndents", "suppressOverlap", "jc",
                                     "textDirection", "textAlignment", "outlineLvl", "rPr")]


def _ppr_flag(style, tag: str, val: str = "0") -> None:
    ppr = style.element.get_or_add_pPr()
    later = _PPR_LATER[_PPR_LATER.index(qn(tag)) + 1:] if qn(tag) in _PPR_LATER else _PPR_LATER
    el = parse_xml(f'<{tag} {nsdecls("w")} w:val="{val}"/>')
    successor = next((c for c in ppr if c.tag in later), None)
    if successor is None:
        ppr.append(el)
    else:
        successor.addprevious(el)


def _condense(style, twips: int) -> None:
    """Character spacing (w:spacing in the run properties, twentieths of a point)."""
    rpr = style.element.get_or_add_rPr()
    for old in rpr.findall(qn("w:spacing")):
        rpr.remove(old)
    if twips:
        el = parse_xml(f'<w:spacing {nsdecls("w")} w:val="{twips}"/>')
        rpr.find(qn("w:sz")).addprevious(el)


def _setup_styles(doc) -> dict[str, str]:
    normal = _paragraph_style(doc, "Normal", BODY_FONT, 16, align=JUSTIFY, first_line_chars=2, line_pt=28)
    # 28 characters a line without snapping to the grid: LibreOffice gives a 三号 character two
    # grid cells when the cell (15.79 pt) is narrower than the character, which spreads every
    # line out; condensed by 0.4 pt, 28 characters fit the line in Word and LibreOffice alike.
    _ppr_flag(normal, "w:snapToGrid")
    _condense(normal, CONDENSE)
    spec = {
        "title": ("Report Title", TITLE_FONT, 22, dict(align=CENTER, line_pt=36, after_pt=28)),
        "to": ("Addressee", BODY_FONT, 16, dict(line_pt=28)),
        "h1": ("Heading 1", HEADING1_FONT, 16, dict(first_line_chars=2, line_pt=28, keep_next=True)),
        "h2": ("Heading 2", HEADING2_FONT, 16, dict(first_line_chars=2, line_pt=28, keep_next=True)),
        "note": ("Attachment Note", BODY_FONT, 16, dict(first_line_chars=2, line_pt=28, before_pt=28)),
        "note2": ("Attachment Note More", BODY_FONT, 16, dict(line_pt=28)),
        "sign": ("Signature", BODY_FONT, 16, dict(align=RIGHT, line_pt=28, before_pt=28)),
        "date": ("Date", BODY_FONT, 16, dict(align=RIGHT, line_pt=28)),
        "label": ("Attachment Label", HEADING1_FONT, 16, dict(line_pt=28, page_break=True)),
        "atitle": ("Attachment Title", TITLE_FONT, 22, dict(align=CENTER, line_pt=36, before_pt=14)),
        "subtitle": ("Attachment Date", HEADING2_FONT, 16, dict(align=CENTER, line_pt=28, after_pt=14)),
        "caption": ("Table Caption", HEADING1_FONT, 14, dict(line_pt=28, before_pt=7, keep_next=True)),
        "cell": ("Table Text", BODY_FONT, TABLE_PT, dict(align=CENTER)),
        "head": ("Table Head", HEADING1_FONT, TABLE_PT, dict(align=CENTER)),
        "footer": ("Page Number", PAGE_FONT, 14, dict(align=RIGHT)),
        "footer_even": ("Page Number Even", PAGE_FONT, 14, dict(align=LEFT)),
    }
    ids = {}
    for key, (name, face, size, kw) in spec.items():
        style = _paragraph_style(doc, name, face, size, **kw)
        _condense(style, CONDENSE if size == 16 else 0)
        if key in ("cell", "head"):  # no extra space around digits: dates keep to one line
            _ppr_flag(style, "w:autoSpaceDE")
            _ppr_flag(style, "w:autoSpaceDN")
        ids[key] = style.style_id
    return ids


def _docx_defaults(doc) -> None:
    """zh-CN in the document defaults and the theme font language; Chinese theme faces."""
    styles = doc.styles.element
    for lang in styles.iter(qn("w:lang")):
        lang.set(qn("w:eastAsia"), "zh-CN")
    for fonts in styles.find(qn("w:docDefaults")).iter(qn("w:rFonts")):
        for key in list(fonts.attrib):  # theme attributes would win over the explicit faces
            if key.endswith("Theme") or key.endswith("theme"):
                del fonts.attrib[key]
        for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            fonts.set(qn(attr), BODY_FONT)
    settings = doc.settings.element
    for lang in settings.iter(qn("w:themeFontLang")):
        lang.set(qn("w:val"), "zh-CN")
        lang.set(qn("w:eastAsia"), "zh-CN")
    settings.append(parse_xml(f'<w:evenAndOddHeaders {nsdecls("w")}/>'))
    for part in doc.part.package.iter_parts():
        name = str(part.partname)
        if name == "/word/fontTable.xml":
            _font_table(part)
        elif name.startswith("/word/theme/"):
            blob = part.blob.decode("utf-8")
            blob = blob.replace('<a:ea typeface=""/>', '<a:ea typeface="宋体"/>')
            for face in JAPANESE_FACES:
                blob = blob.replace(f'typeface="{face}"', 'typeface="宋体"')
            part._blob = blob.encode("utf-8")


def _font_table(part) -> None:
    root = etree.fromstring(part.blob)
    for font in root.findall(f"{{{W}}}font"):
        if font.get(f"{{{W}}}name") in JAPANESE_FACES:
            root.remove(font)
    for name, alt in ALT_NAMES.items():
        font = etree.SubElement(root, f"{{{W}}}font")
        font.set(f"{{{W}}}name", name)
        etree.SubElement(font, f"{{{W}}}altName").set(f"{{{W}}}val", alt)
        etree.SubElement(font, f"{{{W}}}charset").set(f"{{{W}}}val", "86")  # GB2312
        etree.SubElement(font, f"{{{W}}}family").set(f"{{{W}}}val", "modern" if name == HEADING1_FONT else "roman")
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _page_setup(section) -> None:
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(28)  # the page number sits 7 mm below the text block
    sect = section._sectPr
    for old in sect.findall(qn("w:docGrid")):
        sect.remove(old)
    sect.append(parse_xml(f'<w:docGrid {nsdecls("w")} w:type="linesAndChars" w:linePitch="{LINE_PITCH}" '
                          f'w:charSpace="{CHAR_SPACE}"/>'))


def _page_number_xml(style_id: str, indent: str) -> str:
    return (
        f'<w:p {nsdecls("w")}><w:pPr><w:pStyle w:val="{style_id}"/><w:ind {indent}/></w:pPr>'
        '<w:r><w:t xml:space="preserve">— </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        '<w:r><w:t>1</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        '<w:r><w:t xml:space="preserve"> —</w:t></w:r></w:p>'
    )


def _page_numbers(section, styles: dict[str, str]) -> None:
    """Odd pages: right, one character in; even pages: left, one character in (GB/T 9704 §7.5)."""
    for footer, style, indent in ((section.footer, styles["footer"], f'w:right="{CHAR - 40}"'),
                                  (section.even_page_footer, styles["footer_even"], f'w:left="{CHAR - 40}"')):
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
    return (f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/><w:vAlign w:val="center"/></w:tcPr>'
            f'<w:p><w:pPr><w:pStyle w:val="{style_id}"/><w:jc w:val="{align}"/></w:pPr>'
            f'<w:r>{_text(text)}</w:r></w:p></w:tc>')


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
        '</w:tblGrid><w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>',
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
        return "".join(_para(styles["note"], f"附件：{line}") if k == 0 else
                       _para(styles["note2"], line, f'<w:ind w:left="{5 * CHAR}" w:leftChars="500"/>')
                       for k, line in enumerate(b.lines))
    if b.kind in ("sign", "date"):
        return _para(styles[b.kind], b.text, f'<w:ind w:right="{b.indent * CHAR}" w:rightChars="{b.indent * 100}"/>')
    if b.kind == "break":
        return ""  # the attachment label's style starts a new page
    if b.kind == "p":
        return f'<w:p><w:r>{_text(b.text)}</w:r></w:p>'
    if b.kind == "title":  # broken where document.title_lines breaks it
        return _para(styles["title"], "\n".join(b.lines or [b.text]))
    return _para(styles[b.kind], b.text)


def build_docx(report: Report):
    doc = Document()
    section = doc.sections[0]
    _page_setup(section)
    styles = _setup_styles(doc)
    _docx_defaults(doc)
    _page_numbers(section, styles)
    _properties(doc, report)
    # The whole body parsed once and swapped in: moving thousands of parsed paragraphs into the
    # document one by one (addprevious) re-walks the tree each time, minutes at 10,000 items.
    body = doc.element.body
    sect = etree.tostring(body.sectPr, encoding="unicode")
    xml = "".join(_block_xml(block, styles) for block in build_document(report))
    doc.element.replace(body, parse_xml(f'<w:body {nsdecls("w", "r")}>{xml}{sect}</w:body>'))
    return doc


def write_docx(report: Report, path: Path) -> Path:
    build_docx(report).save(str(path))
    return path

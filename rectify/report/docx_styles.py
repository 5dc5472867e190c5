"""The Word report's styles, fonts and language: what the template must say before a line of
the report is written (rectify/report/docx.py builds the pages and the text).

Title in 方正小标宋简体 二号 (22 pt) centred; body 仿宋_GB2312 三号 (16 pt), kept at 28 characters
a line by a 0.4 pt condensed spacing at a fixed 28 pt pitch; first-level headings 黑体,
second-level 楷体_GB2312; tables 五号.

Language: zh-CN for East Asian text in the styles, the document defaults and the theme font
language (python-docx's template says ja-JP, which makes Word and LibreOffice pick Japanese
faces and line-breaking rules); the template's Japanese faces leave the font table, which
names the official faces with w:altName fallbacks (宋体, 仿宋, 楷体, 黑体). A machine without
the official faces maps them with rectify/data/fonts/fontconfig.conf (see rectify/report/pdf.py).
"""

from __future__ import annotations

from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Pt
from lxml import etree

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING1_FONT = "黑体"
HEADING2_FONT = "楷体_GB2312"
PAGE_FONT = "宋体"
# What a machine without the official GB2312 faces should use instead (font table w:altName).
ALT_NAMES = {
    TITLE_FONT: "宋体",
    BODY_FONT: "仿宋",
    HEADING2_FONT: "楷体",
    HEADING1_FONT: "SimHei",
    PAGE_FONT: "SimSun",
}
JAPANESE_FACES = ("ＭＳ 明朝", "ＭＳ ゴシック")
CENTER, LEFT, RIGHT, JUSTIFY = (
    WD_ALIGN_PARAGRAPH.CENTER,
    WD_ALIGN_PARAGRAPH.LEFT,
    WD_ALIGN_PARAGRAPH.RIGHT,
    WD_ALIGN_PARAGRAPH.JUSTIFY,
)

TABLE_PT = 10.5  # 五号
CONDENSE = -8  # twentieths of a point: 16 pt − 0.4 pt, 28 characters on the 156 mm line
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


def _paragraph_style(
    doc,
    name: str,
    east_asia: str,
    size_pt: float,
    *,
    align=None,
    first_line_chars: float = 0,
    line_pt: float | None = None,
    before_pt: float = 0,
    after_pt: float = 0,
    keep_next: bool = False,
    page_break: bool = False,
):
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
        pf._element.get_or_add_pPr().get_or_add_ind().set(
            qn("w:firstLineChars"), str(int(first_line_chars * 100))
        )
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


# w:pPr children that come after autoSpaceDE/autoSpaceDN/snapToGrid in the schema's sequence
# (Word refuses a file whose paragraph properties are out of order).
_PPR_LATER = [
    qn(f"w:{t}")
    for t in (
        "bidi",
        "adjustRightInd",
        "snapToGrid",
        "spacing",
        "ind",
        "contextualSpacing",
        "mirrorIndents",
        "suppressOverlap",
        "jc",
        "textDirection",
        "textAlignment",
        "outlineLvl",
        "rPr",
    )
]


def _ppr_flag(style, tag: str, val: str = "0") -> None:
    ppr = style.element.get_or_add_pPr()
    later = _PPR_LATER[_PPR_LATER.index(qn(tag)) + 1 :] if qn(tag) in _PPR_LATER else _PPR_LATER
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


def setup_styles(doc) -> dict[str, str]:
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


def docx_defaults(doc) -> None:
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
    settings.append(parse_xml(f"<w:evenAndOddHeaders {nsdecls('w')}/>"))
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
        etree.SubElement(font, f"{{{W}}}family").set(
            f"{{{W}}}val", "modern" if name == HEADING1_FONT else "roman"
        )
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)

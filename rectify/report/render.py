"""Markdown and HTML of the report, from the Jinja2 templates in rectify/templates/report/.

HTML is autoescaped. Markdown has no autoescape, so every `{{ value }}` goes through `md_escape`
(Jinja's `finalize` hook): a description such as "a|b <script>" must not break a table or
smuggle HTML into the Prefect UI, which renders artifact Markdown.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from rectify.report.contents import Report
from rectify.report.wording import cn_number  # noqa: F401  (re-exported for callers)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "report"

# Markdown punctuation that changes meaning inside a line (emphasis, links, code, tables,
# headings, strikethrough); & < > become entities so raw HTML never reaches the renderer.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~!])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")
# GFM turns bare URLs (scheme://, www.) and email addresses into links without any markup: a
# backslash before the ":" of "://", the "." of "www." and an "@" between characters keeps
# them text (a backslash-escaped punctuation mark renders as itself).
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(:)(?=//)|(?<=\bwww)(\.)|(?<=\S)(@)(?=\S)")


def md_escape(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    text = _BREAKS.sub(" ", text)  # a line break would end a table row or a list item
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda m: "\\" + m.group(0), text)
    return "".join(_ENTITIES.get(ch, ch) for ch in text)


def md_rows(rows: list[dict]) -> list[dict]:
    """Table artifact rows with every text cell escaped: the Prefect UI renders cells as
    Markdown too, and names, subjects and errors come from registers and people."""
    return [
        {key: md_escape(value) if isinstance(value, str) else value for key, value in row.items()}
        for row in rows
    ]


@lru_cache(maxsize=1)
def _markdown_env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,
        finalize=md_escape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=1)
def _html_env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _context(report: Report) -> dict:
    from rectify.report.document import build_document

    return {"blocks": build_document(report), "title": report.title}


def render_markdown(report: Report) -> str:
    return _markdown_env().get_template("report.md.j2").render(_context(report))


def render_html(report: Report) -> str:
    return _html_env().get_template("report.html.j2").render(_context(report))

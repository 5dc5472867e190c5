"""What every command shares: the ledger session, the acting person, "today", error lines.

Nothing here imports Prefect: read commands must answer fast.
"""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from datetime import date, datetime
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from rectify.errors import ImportRejected, RectifyError
from rectify.settings import get_settings

TODAY_HELP = "业务日期 YYYY-MM-DD（默认：北京时间今天），用于补录和测试"
AS_HELP = "操作人姓名（默认取环境变量 RECTIFY_USER）"


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"错误：{message}", err=True)
    return typer.Exit(code)


def parse_day(value: str | None) -> date:
    if not value:
        return datetime.now(ZoneInfo(get_settings().timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"日期“{value}”格式不正确，应为 YYYY-MM-DD") from None


def actor_name(as_: str | None) -> str | None:
    return as_ or get_settings().user


def setup_logging() -> None:
    """Calendar fallbacks and delivery problems are told once, plainly, on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("提示：%(message)s"))
    log = logging.getLogger("rectify")
    if not log.handlers:
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        log.propagate = False


@contextmanager
def errors() -> Iterator[None]:
    """Turn every expected failure into one Chinese line and a non-zero exit."""
    try:
        yield
    except ImportRejected as exc:
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise fail(str(exc)) from None
    except RectifyError as exc:
        raise fail(str(exc)) from None
    except (OperationalError, ProgrammingError) as exc:
        text = str(exc.orig)
        if "no such table" in text or "does not exist" in text and "relation" in text:
            raise fail("台账尚未初始化：请先运行 rectify init") from None
        raise fail(f"数据库错误：{text.splitlines()[0]}") from None
    except DBAPIError as exc:
        raise fail(f"数据库错误：{str(exc.orig).splitlines()[0]}") from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}：{exc.filename or ''}".rstrip("：")) from None


@contextmanager
def ledger(*, write: bool = True) -> Iterator[Session]:
    """One transaction per command: everything it changes commits together or not at all."""
    from models.db import session_factory

    setup_logging()
    with errors():
        with session_factory(get_settings().database_url)() as session:
            if write:
                with session.begin():
                    yield session
            else:
                yield session


def print_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@lru_cache(maxsize=None)
def _char_width(ch: str) -> int:
    # Cached per character: a 10,000-row table has millions of characters but a few thousand
    # distinct ones, and the C-level cache lookup is far cheaper than east_asian_width().
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def width(text: str) -> int:
    return len(text) if text.isascii() else sum(map(_char_width, text))


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) * 2 <= limit or width(text) <= limit:
        return text
    w = 0
    for i, ch in enumerate(text):
        w += _char_width(ch)
        if w > limit - 1:
            return text[:i] + "…"
    return text


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned table (CJK characters count double); fast for 10,000 rows."""
    cell_widths = [[width(c) for c in r] for r in [headers, *rows]]  # each cell measured once
    widths = [max(col) for col in zip(*cell_widths)]

    def line(cells, ws):
        return "  ".join(c + " " * (w - cw) for c, cw, w in zip(cells, ws, widths)).rstrip()

    return "\n".join(line(r, ws) for r, ws in zip([headers, *rows], cell_widths))


def print_rows(rows: list[dict], json_: bool, empty: str, headers: list[str], cells) -> bool:
    """The one way list-like commands print: JSON, a Chinese "nothing" line, or a table.

    Returns True when a table was printed (so the caller may add its summary line)."""
    if json_:
        print_json(rows)
        return False
    if not rows:
        typer.echo(empty)
        return False
    typer.echo(table(headers, [cells(r) for r in rows]))
    return True

"""What every command shares: the ledger session, the acting person, "today", error lines.

Nothing here imports Prefect: read commands must answer fast.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import typer
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from rectify.cli.text import clip, json_text, setup_logging, table, width  # noqa: F401 (used by the commands)
from rectify.errors import ImportRejected, RectifyError
from rectify.settings import get_settings, office_today

TODAY_HELP = "业务日期 YYYY-MM-DD（默认：北京时间今天），用于补录和测试"
AS_HELP = "操作人姓名（默认取环境变量 RECTIFY_USER）"


# The system's own words for these are English; the rest keep strerror.
OS_ERRORS = {
    errno.ENOENT: "文件或目录不存在",
    errno.EACCES: "没有访问权限",
    errno.EPERM: "没有操作权限",
    errno.EISDIR: "同名的目录已存在，无法写入文件",
    errno.ENOTDIR: "路径中有一段不是目录",
    errno.ENOSPC: "磁盘空间不足",
    errno.EROFS: "文件系统只读",
    errno.EEXIST: "文件已存在",
}


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"错误：{message}", err=True)
    return typer.Exit(code)


def parse_day(value: str | None) -> date:
    from rectify.workdays import FIRST_DAY, LAST_DAY

    if not value:
        return office_today()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise fail(f"日期“{value}”格式不正确，应为 YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:  # 9999-12-20 is a slip of the keyboard, not a plan
        raise fail(f"日期“{value}”超出有效范围（{FIRST_DAY.isoformat()} 至 {LAST_DAY.isoformat()}）")
    return day


def actor_name(as_: str | None) -> str | None:
    return as_ or get_settings().user


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
    except ArgumentError:  # also NoSuchModuleError (an unknown scheme); the URL may hold a password
        raise fail(BAD_URL) from None
    except OSError as exc:
        reason = OS_ERRORS.get(exc.errno) or exc.strerror or str(exc)
        raise fail(f"{reason}：{exc.filename or ''}".rstrip("：")) from None
    except Exception as exc:
        # Named, not imported: openpyxl stays out of the read commands' start-up.
        if type(exc).__name__ == "IllegalCharacterError":
            raise fail(
                "文本中含有 Excel 无法保存的控制字符，请先删除（rectify show 可查看相关事项）"
            ) from None
        if isinstance(exc, ValueError) and _raised_in(exc, "sqlalchemy.engine.url"):
            raise fail(BAD_URL) from None  # e.g. a port that is not a number
        raise


BAD_URL = (
    "数据库地址 RECTIFY_DATABASE_URL 格式不正确，应如 sqlite:///rectify.db 或 "
    "postgresql://用户:密码@主机/库名"
)


def _raised_in(exc: BaseException, module: str) -> bool:
    """Whether the innermost frame of exc's traceback is in `module` (a plain ValueError says
    nothing about where it came from)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__") == module


@contextmanager
def ledger(*, write: bool = True) -> Iterator[Session]:
    """One transaction per command: everything it changes commits together or not at all."""
    from models.db import session_factory

    setup_logging()
    with errors():
        with session_factory(get_settings().database_url)() as session:
            if write:
                from rectify.codes import prove_cli

                with session.begin():
                    prove_cli(session)  # every audit record it writes names the OS account
                    yield session
            else:
                yield session


def print_json(data) -> None:
    typer.echo(json_text(data))


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


def ctrl_c_stops() -> None:
    """Ctrl-C (SIGINT) stops a long-running command even when it was started from a shell that
    ignores SIGINT for background jobs (`cmd &` without job control), an ignore every child
    inherits and Python then leaves in place: such an `up` or `serve` never stopped on SIGINT."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)

"""`rectify report`: the status report, written directly or through the `next-steps-report` flow.

With a Prefect server configured (PREFECT_API_URL in the environment or the active Prefect
profile) the command runs the flow, whose Markdown becomes the `next-steps-report` artifact in
the Prefect UI. Without one it writes the files directly, in about a second: starting a
temporary Prefect server only to publish an artifact nobody can open afterwards cost 20 s. The
direct path never imports Prefect. Everything a person can get wrong (date, format, folder,
LibreOffice missing for PDF, an uninitialised ledger) is checked first, so mistakes stay one line.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Optional

import typer

from rectify.cli.commands import app
from rectify.cli.common import errors, fail, ledger, parse_day, setup_logging
from rectify.report.wording import cn_date
from rectify.settings import get_settings, office_today

DIRECT_NOTE = (
    "提示：未设置 PREFECT_API_URL，已直接写出报告文件；在 Prefect 服务器上运行流程 "
    "next-steps-report 时，报告同时发布为 Prefect 产物（artifact）"
)


def prefect_api_url() -> str | None:
    """PREFECT_API_URL as Prefect would find it, without importing Prefect: the environment,
    else the active profile in $PREFECT_HOME/profiles.toml."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    value = (profiles.get("profiles") or {}).get(active, {}).get("PREFECT_API_URL")
    return str(value) if value else None


@app.command()
def report(
    as_of: Annotated[
        Optional[str], typer.Option("--as-of", help="截至日期 YYYY-MM-DD（默认：北京时间今天）")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", help="输出目录（默认：RECTIFY_REPORT_DIR，即 reports）")
    ] = None,
    format_: Annotated[
        str, typer.Option("--format", help="输出格式，逗号分隔：md,html,docx,xlsx,pdf（pdf 需 LibreOffice）")
    ] = "md,html,docx,xlsx",
) -> None:
    """编制整改工作情况报告（按截至日期重放操作记录），并导出整改台账 Excel（附件2）。"""
    from sqlalchemy import func, select

    from models import Item
    from rectify.report import parse_formats
    from rectify.report.output import FORMAT_LABELS

    day = parse_day(as_of)
    settings = get_settings()
    out_dir = (out or settings.report_dir).expanduser()
    with errors():
        formats = parse_formats(format_)
        if "pdf" in formats:
            from rectify.report.pdf import NO_SOFFICE, soffice

            if soffice() is None:
                raise fail(NO_SOFFICE)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK):
            raise fail(f"输出目录不可写：{out_dir}")
    with ledger(write=False) as session:  # fails in one line if the ledger is not initialised
        session.execute(select(func.count(Item.id))).scalar_one()
        if prefect_api_url() is None:
            from rectify.report.output import produce_report

            with errors():
                paths = produce_report(
                    session, day, out_dir.resolve(), formats, settings, dated=office_today(settings)
                ).paths
            typer.echo(DIRECT_NOTE)
        else:
            paths = None
    if paths is None:
        # Prefect's own lines (INFO, a failed run's traceback) are for the UI; on the command
        # line the paths, or one error line, are the answer.
        setup_logging()
        with errors():
            from flows.report import next_steps_report

            paths = next_steps_report(as_of=day, out_dir=str(out_dir.resolve()), formats=formats)
    typer.echo(f"整改工作情况报告（截至{cn_date(day)}）已写入：")
    for fmt, path in paths.items():
        typer.echo(f"  {FORMAT_LABELS[fmt]}：{path}")

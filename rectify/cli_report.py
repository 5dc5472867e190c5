"""`rectify report`: the status report through the `next-steps-report` flow.

The flow is the product's main path (its Markdown becomes the `next-steps-report` artifact in
the Prefect UI), so the command runs it — in Prefect's ephemeral mode when no server is
configured. Everything a person can get wrong (date, format, folder, an uninitialised ledger) is
checked before Prefect starts, so mistakes stay one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from rectify.cli import app
from rectify.cli_common import errors, fail, ledger, parse_day, setup_logging
from rectify.settings import get_settings

@app.command()
def report(
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="截至日期 YYYY-MM-DD（默认：北京时间今天）")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="输出目录（默认：RECTIFY_REPORT_DIR，即 reports）")] = None,
    format_: Annotated[str, typer.Option("--format", help="输出格式，逗号分隔：md,html,docx,xlsx")] = "md,html,docx,xlsx",
) -> None:
    """编制整改工作情况报告（按截至日期重放操作记录），并导出整改台账 Excel。"""
    from sqlalchemy import func, select

    from models import Item
    from rectify.report import parse_formats
    from rectify.report.output import FORMAT_LABELS

    day = parse_day(as_of)
    out_dir = (out or get_settings().report_dir).expanduser()
    with errors():
        formats = parse_formats(format_)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK):
            raise fail(f"输出目录不可写：{out_dir}")
    with ledger(write=False) as session:  # fails in one line if the ledger is not initialised
        session.execute(select(func.count(Item.id))).scalar_one()

    # Prefect's own lines (INFO, a failed run's traceback) are for the UI; on the command line
    # the paths, or one error line, are the answer.
    setup_logging()
    with errors():
        from flows.report import next_steps_report

        paths = next_steps_report(as_of=day, out_dir=str(out_dir.resolve()), formats=formats)
    typer.echo(f"整改工作情况报告（截至{day.isoformat()}）已写入：")
    for fmt, path in paths.items():
        typer.echo(f"  {FORMAT_LABELS[fmt]}：{path}")

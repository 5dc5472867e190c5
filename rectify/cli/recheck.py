"""`rectify recheck` (回头看) and `rectify calendar` (each year's calendar source).

A separate module so rectify/cli.py stays the item workflow's commands; the rules are in
rectify.recheck and rectify.workdays, these only parse options and print.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rectify.cli.commands import As, Json, Today, _act, app
from rectify.cli.common import fail, print_json, table
from rectify.settings import get_settings


@app.command()
def recheck(
    code: str,
    confirm: Annotated[bool, typer.Option("--confirm", help="整改成效巩固：确认事项保持销号")] = False,
    reopen: Annotated[bool, typer.Option("--reopen", help="出现反弹：重新打开整改（须 --reason）")] = False,
    reason: Annotated[Optional[str], typer.Option(help="反弹的情况（--reopen 时必填）")] = None,
    comment: Annotated[str, typer.Option(help="回头看意见（--confirm 时可填）")] = "",
    as_: As = None,
    today: Today = None,
) -> None:
    """回头看：对已销号事项复核，--confirm（巩固）或 --reopen --reason（反弹，重新整改）。仅秘书。"""
    from rectify import recheck as domain

    if confirm == reopen:
        raise fail("请在 --confirm 和 --reopen 中选择一个")
    if confirm:
        if reason:
            raise fail("--reason 只用于 --reopen；巩固的意见请用 --comment")
        _act(as_, today, domain.confirm, code, "回头看：整改成效巩固，保持销号", comment=comment)
        return
    if comment:
        raise fail("--reopen 请用 --reason 说明反弹情况")
    from rectify.cli.flow_sync import start_reopened_run

    _act(as_, today, domain.reopen, code, "回头看：出现反弹，已重新打开整改", reason=reason or "")
    # after the commit, as `rectify reopen` does: the item's new run waits for its submission
    line = start_reopened_run(get_settings().database_url, code)
    if line:
        typer.echo(line)


@app.command()
def calendar(
    from_year: Annotated[Optional[int], typer.Option("--from", help="起始年份（默认去年）")] = None,
    to_year: Annotated[Optional[int], typer.Option("--to", help="截止年份（默认明年）")] = None,
    json_: Json = False,
) -> None:
    """列出各年份法定节假日数据的来源：软件包、覆盖文件、估算、或按周一至周五。"""
    from rectify.cli.common import errors
    from rectify.settings import office_today
    from rectify.workdays import SOURCE_LABELS, get_calendar

    year = office_today().year
    first, last = from_year or year - 1, to_year or year + 1
    if not (2000 <= first <= last <= 2099):
        raise fail("年份应在 2000 到 2099 之间，且 --from 不晚于 --to")
    with errors():
        cal = get_calendar(get_settings().calendar_override)
        rows = [
            {"year": y, "source": cal.source(y), "source_label": SOURCE_LABELS[cal.source(y)]}
            for y in range(first, last + 1)
        ]
    if json_:
        print_json(rows)
        return
    typer.echo(table(["年份", "来源"], [[str(r["year"]), r["source_label"]] for r in rows]))
    override = get_settings().calendar_override
    if override:
        typer.echo(f"覆盖文件：{override}")
    unconfirmed = [str(r["year"]) for r in rows if r["source"] in ("estimate", "fallback")]
    if unconfirmed:
        typer.echo(
            f"提示：{'、'.join(unconfirmed)}年没有国务院办公厅正式通知的数据，"
            "相关整改时限和工作日可能需要在正式通知发布后重新核对"
        )

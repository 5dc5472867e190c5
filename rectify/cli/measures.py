"""`rectify measure` and `rectify extend`: one measure done, 申请延期 and its approval.

Role rules live in rectify.measures and rectify.extensions; this module only parses options
and says in one line what happened.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

import typer

from rectify.cli.commands import As, Today, _act, _resume_item_run, app
from rectify.cli.common import fail


@app.command()
def measure(
    code: str,
    number: Annotated[int, typer.Argument(help="措施序号（第几条，从 1 起）")],
    done: Annotated[bool, typer.Option("--done", help="标记该条整改措施已完成")] = False,
    note: Annotated[str, typer.Option("--note", help="完成情况：做了什么（必填）")] = "",
    as_: As = None,
    today: Today = None,
) -> None:
    """标记一条整改措施已完成（责任人或责任领导），记入操作记录。"""
    from rectify.measures import mark_done

    if not done:
        raise fail("请用 --done 标记该条措施已完成（并用 --note 说明完成情况）")

    def action(session, code, actor, day):
        mark_done(session, code, number, actor, day, note=note)

    _act(as_, today, action, code, f"第{number}条整改措施已标记完成")


def _parse_to(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"日期“{value}”格式不正确，应为 YYYY-MM-DD") from None


@app.command()
def extend(
    code: str,
    number: Annotated[int, typer.Argument(help="措施序号（第几条，从 1 起）")],
    to: Annotated[Optional[str], typer.Option("--to", help="申请延期至 YYYY-MM-DD（须为工作日）")] = None,
    reason: Annotated[str, typer.Option("--reason", help="延期理由（申请时必填）")] = "",
    approve: Annotated[bool, typer.Option("--approve", help="批准延期（仅秘书）")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="不予延期（仅秘书，须填写意见）")] = False,
    comment: Annotated[str, typer.Option("--comment", help="审批意见")] = "",
    as_: As = None,
    today: Today = None,
) -> None:
    """申请延期（责任人或责任领导：--to --reason），或审批延期申请（秘书：--approve/--reject）。"""
    from rectify.decisions import decide_extension, request_extension

    if sum((to is not None, approve, reject)) != 1:
        raise fail("请选择其一：申请延期用 --to 日期 --reason 理由；审批用 --approve 或 --reject")
    if to is not None:
        new = _parse_to(to)

        def ask(session, code, actor, day):
            request_extension(session, code, actor, day, measure=number, to=new, reason=reason)

        _act(as_, today, ask, code, f"已申请将第{number}条措施的时限延至 {new}，等待秘书审批")
        _resume_item_run(code)  # the run now waits for the secretary's decision
        return

    def decide(session, code, actor, day):
        decide_extension(session, code, actor, day, measure=number, approve=approve, comment=comment)

    _act(as_, today, decide, code, f"已批准第{number}条措施延期" if approve else f"第{number}条措施不予延期")
    _resume_item_run(code)

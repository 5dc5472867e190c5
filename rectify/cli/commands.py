"""`rectify`: the ledger's command line. Role rules live in rectify.workflow, not here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from rectify.cli.common import (
    AS_HELP,
    TODAY_HELP,
    actor_name,
    errors,
    fail,
    ledger,
    parse_day,
    print_json,
    print_rows,
)
from rectify.cli.text import LIST_HEADERS, list_cells, list_summary, show_text
from rectify.settings import get_settings

app = typer.Typer(
    help="整改台账：问题整改清单的导入、交办、进展、销号审核与查询。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Today = Annotated[Optional[str], typer.Option("--today", help=TODAY_HELP)]
As = Annotated[Optional[str], typer.Option("--as", help=AS_HELP)]
Json = Annotated[bool, typer.Option("--json", help="以 JSON 输出（格式见 README）")]


def _calendar():
    from rectify.workdays import get_calendar

    return get_calendar(get_settings().calendar_override)


@app.command()
def init() -> None:
    """创建或升级台账数据库结构（Alembic 迁移）。"""
    from rectify.schema import current_revision, upgrade

    from rectify import code_key

    settings = get_settings()
    url = settings.database_url
    with errors():
        upgrade(url)
        typer.echo(f"台账数据库已就绪（结构版本 {current_revision(url)}）")
        code_key.current()  # made now (0600), not by the first email: say where it is
        where = (
            code_key.ENV
            if settings.code_secret
            else f"{(settings.home or Path.cwd()) / code_key.KEY_FILE}（仅本机；多台机器请设置 "
            f"{code_key.ENV}）"
        )
        typer.echo(f"验证码密钥：{where}")


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="整改清单和人员名单（.xlsx 或 .csv），可多个")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只检查并显示将发生的变化，不写入")] = False,
    as_: As = None,
    today: Today = None,
    json_: Json = False,
) -> None:
    """导入整改清单（全部成功或全部不写入）；按序号重复导入会原地更新。"""
    from rectify.importer import import_register

    day = parse_day(today)
    with ledger() as session, _progress_bar() as progress:
        result = import_register(
            session,
            paths,
            day=day,
            calendar=_calendar(),
            immediate_days=get_settings().immediate_working_days,
            actor=actor_name(as_),
            dry_run=dry_run,
            progress=progress,
        )
        if dry_run:
            session.rollback()
    if json_:
        print_json(result.as_dict())
        return
    head = "（试运行，未写入）" if dry_run else ""
    typer.echo(
        f"导入完成{head}：新增事项{len(result.created)}项，更新{len(result.updated)}项，"
        f"未变{len(result.unchanged)}项；新增人员{len(result.people_created)}人，"
        f"更新人员{len(result.people_updated)}人"
    )
    for code in result.updated:
        typer.echo(f"  已更新：{code}")
    if result.conflicts:  # each one is also a 提示 line and an audit record (rectify.reimport)
        typer.echo(f"导入冲突{len(result.conflicts)}处：整改清单与台账中调整后的值不同，已保留台账中的值")


class _progress_bar:
    """A progress bar on a terminal for long imports; silent when piped."""

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        self.task = self.bar.add_task("导入中", total=None)
        return lambda done, total: self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        if hasattr(self, "bar"):
            self.bar.stop()


@app.command("list")
def list_(
    status: Annotated[
        Optional[str],
        typer.Option(
            help="按状态筛选：new/in_progress/leader_review/submitted/closed/ongoing 或 待交办/整改中/待领导审核/待审核/已销号/长期坚持"
        ),
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="只看逾期事项")] = False,
    owner: Annotated[Optional[str], typer.Option(help="按责任人筛选")] = None,
    leader: Annotated[Optional[str], typer.Option(help="按责任领导筛选")] = None,
    unreported: Annotated[
        bool, typer.Option("--unreported", help="只看未按时报送进展的事项（定期报送）")
    ] = False,
    today: Today = None,
    json_: Json = False,
    as_of: Annotated[
        Optional[str],
        typer.Option("--as-of", help="按操作记录重放到该日（YYYY-MM-DD）：当日的状态与逾期，与报告一致"),
    ] = None,
) -> None:
    """列出整改事项。"""
    from models.status import parse_status
    from rectify.queries import list_items

    day = parse_day(today)
    replay = parse_day(as_of) if as_of else None
    try:
        wanted = parse_status(status) if status else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    with ledger(write=False) as session:
        rows = list_items(
            session,
            replay or day,
            status=wanted,
            overdue=overdue,
            owner=owner,
            leader=leader,
            unreported=unreported,
            as_of=replay,
        )
    if print_rows(rows, json_, "没有符合条件的整改事项", LIST_HEADERS, list_cells):
        typer.echo(list_summary(rows))


@app.command()
def show(code: str, today: Today = None, json_: Json = False) -> None:
    """查看一项整改事项的措施、进展、佐证材料和全部操作记录。"""
    from rectify.queries import item_detail

    day = parse_day(today)
    with ledger(write=False) as session:
        d = item_detail(session, code, day)
    if json_:
        print_json(d)
        return
    typer.echo(show_text(d))


def _act(as_: str | None, today: str | None, action, code: str, done: str, **kwargs) -> None:
    """Run one domain function for the acting person in one transaction, then send the emails
    it queued (交办、退回、销号) and say what happened in words a person reads."""
    from rectify.workflow import get_person

    day = parse_day(today)
    with ledger() as session:
        actor = get_person(session, actor_name(as_))
        result = action(session, code, actor, day, **kwargs)
        status = getattr(result, "status", None)
    typer.echo(f"{code}：{done}" + (f"（当前状态：{status.label}）" if status else ""))
    _deliver_notices(day)


def _deliver_notices(day) -> None:
    """Deliver what the command queued now rather than at the next sweep (no Prefect needed).
    Notices only: the sweep's digests are the sweep's (one per person per day, never late)."""
    from models.db import session_factory
    from notifications.smtp import mail_config
    from rectify.delivery import NOTICES, deliver_pending

    settings = get_settings()
    with errors():
        report = deliver_pending(
            session_factory(settings.database_url),
            mail_config(settings),
            day=day,
            report_failures=False,
            sources=NOTICES,
        )
    if report.sent:
        typer.echo(f"已发送通知邮件{report.sent}封")
    if report.refusal:
        typer.echo(f"提示：邮件服务器拒绝本系统（{report.refusal}），通知邮件已保留待重试", err=True)
    if report.attempted > report.sent:
        typer.echo(
            f"提示：{report.attempted - report.sent}封通知邮件未能发出，稍后随下一次命令或"
            "催办重试（rectify outbox 查看）",
            err=True,
        )


@app.command()
def assign(
    code: Annotated[list[str], typer.Argument(help="事项编号，可多个（一次交办，每人一封通知邮件）")],
    owner: Annotated[str, typer.Option(help="责任人姓名")],
    leader: Annotated[Optional[str], typer.Option(help="责任领导姓名")] = None,
    department: Annotated[Optional[str], typer.Option(help="责任部门")] = None,
    as_: As = None,
    today: Today = None,
) -> None:
    """交办：指定责任人（和责任领导、责任部门），并邮件通知。仅秘书可操作。

    几项事项一起交办时在同一事务中签署（任一项被拒绝则都不交办），同一人当天的交办通知合为一封。"""
    from rectify import acting, workflow
    from rectify.decisions import assign_item

    def action(session, _codes, actor, day):
        with acting.one_email_per_person(session):
            items = [
                assign_item(
                    session,
                    c,
                    actor,
                    day,
                    owner=workflow.get_person(session, owner),
                    leader=workflow.get_person(session, leader) if leader else None,
                    department=department,
                )
                for c in code
            ]
        return items[0] if len(items) == 1 else None

    _act(as_, today, action, "、".join(code), f"已交办给{owner}")


@app.command()
def progress(
    code: str,
    note: Annotated[str, typer.Option("--note", help="进展说明")],
    percent: Annotated[Optional[int], typer.Option(help="完成百分比 0-100")] = None,
    as_: As = None,
    today: Today = None,
) -> None:
    """记录整改进展（责任人或责任领导）。"""
    from rectify.workflow import add_progress

    _act(as_, today, add_progress, code, "已记录整改进展", note=note, percent=percent)
    _resume_item_run(code)  # a 长期坚持 item's run then waits for the next period's report


@app.command()
def submit(
    code: str,
    summary: Annotated[str, typer.Option(help="整改情况说明")],
    evidence: Annotated[
        Optional[list[str]], typer.Option("--evidence", help="佐证材料路径或链接，可多次")
    ] = None,
    complete: Annotated[
        Optional[list[int]], typer.Option("--complete", help="本次申请同时完成的措施序号，可多次")
    ] = None,
    as_: As = None,
    today: Today = None,
) -> None:
    """申请销号（责任人或责任领导），附佐证材料；有时限的措施须已完成或用 --complete 在本次完成。"""
    from rectify.decisions import submit_item

    _act(
        as_,
        today,
        submit_item,
        code,
        "已提交销号申请",
        summary=summary,
        evidence=evidence or [],
        completes=complete or [],
    )
    _resume_item_run(code)


@app.command()
def review(
    code: str,
    approve: Annotated[bool, typer.Option("--approve", help="同意销号")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="退回重新整改")] = False,
    comment: Annotated[str, typer.Option(help="审核意见")] = "",
    recheck_on: Annotated[
        Optional[str],
        typer.Option(
            "--recheck-on", help="同意销号时的复核日期（回头看），默认三个月后（RECTIFY_RECHECK_MONTHS）"
        ),
    ] = None,
    as_: As = None,
    today: Today = None,
) -> None:
    """审核销号申请：--approve 或 --reject。待领导审核时由责任领导签字背书，待审核时由秘书审核；
    提交人不能审核自己的申请。"""
    from rectify.decisions import review_item

    if approve == reject:
        raise fail("请在 --approve 和 --reject 中选择一个")
    if recheck_on and not approve:
        raise fail("--recheck-on 只用于同意销号（--approve）")
    recheck_day = parse_day(recheck_on) if recheck_on else None
    _act(
        as_,
        today,
        review_item,
        code,
        "审核通过" if approve else "已退回，责任人需补充整改",
        approve=approve,
        comment=comment,
        **({"recheck_on": recheck_day} if recheck_day else {}),
    )
    _resume_item_run(code)


def _resume_item_run(code: str) -> None:
    """After the ledger committed: wake the item's flow run if it waits."""
    from rectify.cli.flow_sync import resume_if_waiting

    line = resume_if_waiting(get_settings().database_url, code)
    if line:
        typer.echo(line)


@app.command()
def reopen(
    code: str,
    reason: Annotated[str, typer.Option(help="回头看发现的问题（必填）")],
    as_: As = None,
    today: Today = None,
) -> None:
    """回头看：重新打开已销号事项（仅秘书，须说明原因）。"""
    from rectify.cli.flow_sync import start_reopened_run
    from rectify.workflow import reopen as do_reopen

    _act(as_, today, do_reopen, code, "已重新打开（回头看）", reason=reason)
    # after the commit: the item's run ended at 已销号, a new one waits for the next submission
    line = start_reopened_run(get_settings().database_url, code)
    if line:
        typer.echo(line)


@app.command()
def ongoing(
    code: str,
    comment: Annotated[str, typer.Option(help="说明")] = "",
    as_: As = None,
    today: Today = None,
) -> None:
    """转为长期坚持：措施持续执行，不再计为逾期（仅秘书）。"""
    from rectify.workflow import mark_ongoing

    _act(as_, today, mark_ongoing, code, "已转为长期坚持", comment=comment)
    _resume_item_run(code)  # the run now waits at the 进展报送 form, not a 销号申请


@app.callback()
def _settings_first() -> None:
    """Read the settings before any command, so a bad RECTIFY_* value is one line."""
    with errors():
        get_settings()


def main() -> None:  # pragma: no cover - console entry point
    app()


from rectify.cli import report  # noqa: E402,F401
from rectify.cli import mail  # noqa: E402,F401
from rectify.cli import flows  # noqa: E402,F401
from rectify.cli import measures  # noqa: E402,F401
from rectify.cli import recheck  # noqa: E402,F401
from rectify.cli import up  # noqa: E402,F401
from rectify.cli import prefect_db  # noqa: E402,F401

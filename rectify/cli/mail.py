"""`rectify remind` (the deadline-watch flow from the command line) and `rectify outbox`.

`outbox` only reads the ledger and never imports Prefect; `remind` imports it inside the
command, so `rectify list`/`show` stay fast.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from sqlalchemy import select

from rectify.cli.commands import Json, Today, app
from rectify.cli.common import clip, errors, ledger, parse_day, print_json, print_rows, setup_logging, table
from rectify.settings import get_settings
from notifications.cn import KIND_LABELS as KIND_WORDS


@app.command()
def remind(
    today: Today = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="只显示将发送的催办邮件，不记录、不发送")
    ] = False,
    json_: Json = False,
) -> None:
    """催办：按催办规则计算今天的到期提醒和逾期催办，记录并发送（运行 deadline-watch 流程）。"""
    day = parse_day(today)
    setup_logging()
    with errors():
        from rectify.reminders import check_sweep_day
        from rectify.settings import office_today

        # Checked before Prefect starts, so the refusal is one line and no failed run.
        check_sweep_day(day, office_today(), dry_run)
        from flows.deadline_watch import deadline_watch

        result = deadline_watch(day=day, dry_run=dry_run)
    if json_:
        print_json(result)
        return
    if not result["workday"]:
        typer.echo(result["message"])
        return
    digests = result["digests"]
    head = "试运行（未记录、未发送）：将发送" if dry_run else "本次新记录"
    typer.echo(f"{day} {head}催办邮件{len(digests)}封（每人每天至多一封）")
    if digests:
        typer.echo(
            table(
                ["收件人", "邮箱", "类型", "事项", "主题"],
                [
                    [
                        d["recipient"],
                        d["email"],
                        KIND_WORDS.get(d["kind"], d["kind"]),
                        "、".join(d["items"]),
                        clip(d["subject"], 50),
                    ]
                    for d in digests
                ],
            )
        )
    if result["already_sent_to"]:
        typer.echo("今日已发送过、不再重复：" + "、".join(result["already_sent_to"]))
    delivery = result.get("delivery")
    if delivery:
        typer.echo(
            f"投递：发送{delivery['sent']}封，待重试{delivery['retry']}封，"
            f"失败{delivery['failed']}封，结果未知{delivery['unknown']}封"
            f"（{delivery['where']}）"
        )
        if delivery.get("interrupted"):
            typer.echo(
                f"{delivery['interrupted']}封此前发送中断的催办邮件结果未知，不再补发，"
                "已通知秘书核实（rectify outbox --failed 查看）"
            )
        if delivery.get("refusal"):
            typer.echo(f"邮件服务器拒绝本系统：{delivery['refusal']}；邮件均已保留，稍后重试", err=True)
        if delivery.get("expired"):
            typer.echo(
                f"{delivery['expired']}封此前未能投递的催办邮件已过期未发，不再补发（rectify outbox 查看）"
            )


@app.command()
def outbox(
    failed: Annotated[bool, typer.Option("--failed", help="只看发送失败和结果未知的邮件")] = False,
    day: Annotated[Optional[str], typer.Option("--day", help="只看某一天（YYYY-MM-DD）记录的邮件")] = None,
    json_: Json = False,
) -> None:
    """列出发件箱中记录的催办和通知邮件及其投递状态。"""
    from models.reminders import OUTBOX_STATUS_LABELS, OutboxMail, ReminderLine
    from models import Item

    settings = get_settings()
    wanted_day = parse_day(day) if day else None
    with ledger(write=False) as session:
        stmt = select(OutboxMail).order_by(OutboxMail.id)
        if failed:
            stmt = stmt.where(OutboxMail.status.in_(("failed", "unknown")))
        if wanted_day:
            stmt = stmt.where(OutboxMail.day == wanted_day)
        mails = session.scalars(stmt).all()
        codes: dict[int, list[str]] = {}
        if mails:
            # One query for every row's items (not one per email).
            line_stmt = (
                select(ReminderLine.outbox_id, Item.code)
                .join(Item, Item.id == ReminderLine.item_id)
                .order_by(ReminderLine.outbox_id, Item.code)
                .distinct()
            )
            if failed or wanted_day:
                line_stmt = line_stmt.where(ReminderLine.outbox_id.in_([m.id for m in mails]))
            for outbox_id, code in session.execute(line_stmt):
                codes.setdefault(outbox_id, []).append(code)
    eml_dir = None if settings.smtp_host or settings.email_block else settings.outbox_dir.resolve()
    rows = []
    for m in mails:
        eml = None
        if eml_dir is not None and m.status == "sent":
            eml = str(eml_dir / f"{m.day:%Y%m%d}-{m.id:06d}-{m.kind}.eml")
        rows.append(
            {
                "id": m.id,
                "day": m.day.isoformat(),
                "kind": m.kind,
                "kind_label": KIND_WORDS.get(m.kind, m.kind),
                "recipient": m.recipient_name,
                "email": m.recipient_email,
                "cc": [email for _, email in (m.cc or [])],
                "subject": m.subject,
                "items": codes.get(m.id, []),
                "status": m.status,
                "status_label": OUTBOX_STATUS_LABELS[m.status],
                "attempts": m.attempts,
                "error": m.last_error,
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                "message_id": m.message_id,
                "eml": eml,
            }
        )
    if not print_rows(
        rows,
        json_,
        "发件箱中没有符合条件的邮件",
        ["日期", "收件人", "类型", "状态", "次数", "事项", "说明"],
        lambda r: [
            r["day"],
            r["recipient"],
            r["kind_label"],
            r["status_label"],
            str(r["attempts"]),
            clip("、".join(r["items"]), 30),
            clip(r["error"] or "", 40),
        ],
    ):
        return
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status_label"]] = counts.get(r["status_label"], 0) + 1
    typer.echo(f"共{len(rows)}封：" + "，".join(f"{k}{v}封" for k, v in counts.items()))
    if eml_dir is not None:
        typer.echo(f"未配置邮件服务器（RECTIFY_SMTP_HOST），邮件以 .eml 文件写入：{eml_dir}")

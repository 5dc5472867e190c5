"""Thin Prefect tasks around rectify.reminders and rectify.delivery.

Two tasks for a whole sweep, whatever the number of items: one plans and records every
reminder in one transaction, one delivers the whole outbox. `deliver_outbox` is also what the
per-item flow calls after queueing an event notice, as `deliver_outbox(sources=NOTICES)`: an
item run sends its notices, never the sweep's digests (NOTICES is in rectify.delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from models.db import session_factory
from notifications.cn import KIND_LABELS
from rectify import code_reissue
from rectify.delivery import DeliveryReport, deliver_pending
from rectify.digest_acts import attach_acts
from rectify.measures import LIGHT_LABELS
from rectify.report.render import md_escape, md_rows
from rectify.digest_render import render_digest
from rectify.reminders import ReminderPlan, plan_reminders, record_reminders, section_of
from rectify.settings import get_settings, office_today
from rectify.workdays import get_calendar

# The Prefect UI renders every row of a table artifact; beyond this the table is cut and its
# description says how many rows there were (`rectify outbox` lists everything).
ARTIFACT_ROWS = 1000

RUNG_LABELS = {
    "due_soon": "{days}个工作日后到期",
    "due_today": "今日到期",
    "overdue_owner": "逾期{days}个工作日",
}


@dataclass
class PlanOutcome:
    plan: ReminderPlan
    recorded_mails: int = 0
    recorded_lines: int = 0
    skipped: int = 0


@task(
    name="更新亮灯标签", task_run_name="更新亮灯标签", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE
)
def sync_lights(day: date) -> int:
    """The light tag (临期 · 逾期) of every item run whose light changed (flows.run_tags)."""
    from tasks.run_tags import sync_light_tags
    from rectify.run_lights import light_tags

    settings = get_settings()
    with session_factory(settings.database_url)() as session:
        wanted = light_tags(
            session, day, get_calendar(settings.calendar_override), settings.remind_before_days
        )
    changed = sync_light_tags(wanted)
    get_run_logger().info("亮灯标签：%d个事项的流程运行已更新", changed)
    return changed


@task(
    name="计算并记录催办",
    task_run_name="计算并记录催办",
    retries=2,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
)
def plan_and_record(day: date, dry_run: bool = False) -> PlanOutcome:
    """Plan today's ladder and record it in the outbox in ONE transaction (or, dry run, none)."""
    settings = get_settings()
    calendar = get_calendar(settings.calendar_override)
    maker = session_factory(settings.database_url)
    if dry_run:
        with maker() as session:  # read only: nothing is written, nothing to roll back
            plan = plan_reminders(session, day, calendar, settings)
            attach_acts(session, plan.digests, settings, issue=False)  # links, no codes
        for digest in plan.digests:
            render_digest(digest, settings)
        return PlanOutcome(plan)
    with maker.begin() as session:
        plan = plan_reminders(session, day, calendar, settings)
        result = record_reminders(session, day, plan, settings)
        code_reissue.reissue_rekeyed(session, day)  # codes voided by migration 0008, once each
    get_run_logger().info(
        "%s：计划催办邮件%d封，新记录%d封（涉及%d条提醒）", day, len(plan.digests), result.mails, result.lines
    )
    return PlanOutcome(plan, result.mails, result.lines, result.skipped)


@task(name="投递发件箱", task_run_name="投递发件箱", retries=1, retry_delay_seconds=30, cache_policy=NO_CACHE)
def deliver_outbox(
    day: date | None = None,
    artifact_key: str = "outbox-delivery",
    lease_minutes: float = 15,
    chunk: int = 500,
    sources: tuple[str, ...] | None = None,
    items: tuple[str, ...] | None = None,
) -> dict:
    """Deliver every pending/retry/expired-lease email of `sources` (None: all; NOTICES:
    event notices only), and with `items` (item codes) only the emails about them (an item
    run's own notices); one task for the whole batch. Sweep digests of days before `day`
    are marked 过期未发, not sent (rectify.delivery.deliver_pending).

    Shows a progress artifact while it sends (not for `items`: an item run's one or two
    notices) and a table of outcomes when done. The mail
    settings (or the prefect-email block named by RECTIFY_EMAIL_BLOCK) are read here, at run
    time; the password is never logged.
    """
    from notifications.smtp import mail_config

    settings = get_settings()
    day = day or office_today()
    config = mail_config(settings)
    logger = get_run_logger()
    where = f"{config.host}:{config.port or '默认端口'}" if config.host else f"发件箱目录 {config.outbox_dir}"
    # A batch (sweep, intake, command line) shows its progress; an item run's own notices (`items`:
    # one or two emails) do not: three API writes per resumed run for a bar that is full at once.
    progress_id = (
        None
        if items is not None
        else create_progress_artifact(progress=0.0, description=f"邮件投递进度（{md_escape(where)}）")
    )

    def progress(done: int, total: int) -> None:
        if progress_id is not None:
            update_progress_artifact(progress_id, progress=round(100.0 * done / max(total, 1), 1))

    report: DeliveryReport = deliver_pending(
        session_factory(settings.database_url),
        config,
        day=day,
        lease=timedelta(minutes=lease_minutes),
        chunk=chunk,
        progress=progress,
        sources=tuple(sources) if sources is not None else None,
        items=tuple(items) if items is not None else None,
    )
    if progress_id is not None:
        update_progress_artifact(progress_id, progress=100.0)
    if report.rows:
        rows = [
            {
                "收件人": r["recipient"],
                "邮箱": r["email"],
                "类型": KIND_LABELS.get(r["kind"], r["kind"]),
                "结果": r["status_label"],
                "尝试次数": r["attempts"],
                "说明": r["error"],
            }
            for r in report.rows
        ]
        create_table_artifact(
            table=md_rows(rows[:ARTIFACT_ROWS]),
            key=artifact_key,
            description=(
                f"**邮件投递结果**（{md_escape(where)}）：已发送{report.sent}封，待重试{report.retry}封，"
                f"失败{report.failed}封，结果未知{report.unknown}封"
                + (f"；仅列前{ARTIFACT_ROWS}封，共{len(rows)}封" if len(rows) > ARTIFACT_ROWS else "")
            ),
        )
    if report.refusal:
        logger.error("邮件服务器拒绝本系统：%s；邮件均已保留，稍后重试", report.refusal)
    if report.expired:
        logger.warning("%d封%s前未能投递的催办邮件已标记为过期未发，不再补发", report.expired, day)
    if report.retry or report.failed or report.unknown:
        logger.warning(
            "邮件投递：发送%d封，待重试%d封，失败%d封，结果未知%d封（失败通知%d封）",
            report.sent,
            report.retry,
            report.failed,
            report.unknown,
            report.notices,
        )
    else:
        logger.info("邮件投递：发送%d封（%s）", report.sent, where)
    return {**report.as_dict(), "where": where}


def items_table(plan: ReminderPlan) -> list[dict]:
    """Due and overdue items of the plan, one row per item, oldest deadline first."""
    rows = []
    for entry in sorted(plan.items, key=lambda e: (e["deadline"], e["code"])):
        label = RUNG_LABELS[section_of(entry["rung"])].format(days=entry["days"])
        rows.append(
            {
                "编号": entry["code"],
                "亮灯": LIGHT_LABELS[entry["light"]],
                "措施": "、".join(f"第{n}条" for n in entry["measures"]),
                "责任人": entry["owner"],
                "责任领导": entry["leader"],
                "整改时限": entry["deadline"].isoformat(),
                "情况": label,
            }
        )
    return rows


def reminders_table(plan: ReminderPlan) -> list[dict]:
    return [
        {
            "收件人": d.name,
            "邮箱": d.email,
            "类型": KIND_LABELS.get(d.kind, d.kind),
            "事项数": d.item_count,
            "主题": d.subject,
        }
        for d in plan.digests
    ]


def publish_plan(plan: ReminderPlan, dry_run: bool) -> None:
    """Table artifacts: the due/overdue items and the reminders planned for them."""
    prefix = "（试运行，未记录未发送）" if dry_run else ""
    items = items_table(plan)
    create_table_artifact(
        table=md_rows(items[:ARTIFACT_ROWS]) or [{"编号": "—", "情况": "今日没有到期或逾期事项"}],
        key="deadline-watch-items",
        description=f"**{plan.day} 到期和逾期事项**{prefix}：共{len(items)}项"
        + (f"，仅列前{ARTIFACT_ROWS}项" if len(items) > ARTIFACT_ROWS else ""),
    )
    reminders = reminders_table(plan)
    create_table_artifact(
        table=md_rows(reminders[:ARTIFACT_ROWS]) or [{"收件人": "—", "主题": "今日无需发送催办邮件"}],
        key="deadline-watch-reminders",
        description=f"**{plan.day} 催办邮件**{prefix}：{len(reminders)}封（每人每天至多一封）"
        + (
            f"；今日已发送过、不再重复：{md_escape('、'.join(plan.already_sent_to))}"
            if plan.already_sent_to
            else ""
        ),
    )

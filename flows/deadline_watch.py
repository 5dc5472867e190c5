"""`deadline-watch`: the daily sweep of the reminder ladder (DOMAIN.md "Reminder ladder").

A day other than today (Beijing time) is refused unless it is a dry run: recorded now,
tomorrow's reminders would be sent early and skipped on the day, and an earlier day's would
replay the ladder with stale text (rectify.reminders.check_sweep_day). On a working day: plan
and record every reminder in one transaction (task 1), publish the due/overdue items and the
planned emails as table artifacts, bring the item runs' light tags (临期 · 逾期) up to date
(task 2), then deliver the whole outbox (task 3, with a progress artifact and a table of
outcomes); open items whose run ended or vanished get a new waiting run (补建流程运行). On a
non-working day it does nothing and says so. The run fails when
there was something to send and nothing could be delivered, so the secretary sees it in red.
"""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from rectify.errors import RectifyError
from rectify.reminders import RETRY_NOTE, check_sweep_day
from rectify.settings import get_settings, office_today
from rectify.workdays import get_calendar
from tasks.naming import sweep_run_name
from tasks.reminders import deliver_outbox, plan_and_record, publish_plan, sync_lights
from tasks.run_repair import repair_or_warn


class NothingDelivered(RectifyError):
    """Every email of the sweep failed or is waiting for a retry."""


@flow(
    name="deadline-watch",
    log_prints=False,
    flow_run_name=sweep_run_name,
    description="按催办规则发送到期提醒和逾期催办，并投递发件箱",
)
def deadline_watch(day: date | None = None, dry_run: bool = False) -> dict:
    """催办：按北京时间今天（或指定日期）计算提醒并发送；dry_run 只显示将发送的邮件。"""
    logger = get_run_logger()
    settings = get_settings()
    today = office_today(settings)
    day = day or today
    check_sweep_day(day, today, dry_run)
    repaired = {} if dry_run else repair_or_warn(day)  # every open item waits for its next form
    calendar = get_calendar(settings.calendar_override)
    if not calendar.is_workday(day):
        message = f"{day} 不是工作日：按催办规则不发送任何提醒"
        logger.info(message)
        create_markdown_artifact(markdown=message, key="deadline-watch-summary", description="催办：非工作日")
        return {"day": day.isoformat(), "workday": False, "message": message, "repaired": repaired}
    if day.year in calendar.fallback_years:
        logger.warning("%d年没有法定节假日数据，按周一至周五计算工作日", day.year)
    elif calendar.source(day.year) == "estimate":
        logger.warning(
            "%d年的法定节假日数据为估算（并非国务院办公厅正式通知），请在正式通知发布后核对", day.year
        )

    outcome = plan_and_record(day, dry_run)
    plan = outcome.plan
    publish_plan(plan, dry_run)
    summary = {
        "day": day.isoformat(),
        "workday": True,
        "dry_run": dry_run,
        "repaired": repaired,
        "planned": len(plan.digests),
        "recorded": outcome.recorded_mails,
        "lines": outcome.recorded_lines,
        "already_sent_to": plan.already_sent_to,
        "digests": [
            {
                "recipient": d.name,
                "email": d.email,
                "kind": d.kind,
                "sections": list(d.sections),
                "items": sorted({l.code for l in d.lines}),
                "subject": d.subject,
            }
            for d in plan.digests
        ],
    }
    if dry_run:
        logger.info("试运行：将发送%d封催办邮件，未记录、未发送", len(plan.digests))
        return summary
    sync_lights(day)
    delivery = deliver_outbox(day, artifact_key="deadline-watch-delivery")
    summary["delivery"] = delivery
    if delivery["attempted"] and delivery["sent"] == 0:
        why = f"邮件服务器拒绝：{delivery['refusal']}；" if delivery.get("refusal") else ""
        raise NothingDelivered(
            f"{day} 催办邮件全部未能投递（待重试{delivery['retry']}封，失败{delivery['failed']}封，"
            f"结果未知{delivery['unknown']}封），{why}请检查邮件服务器设置；{RETRY_NOTE}"
        )
    return summary

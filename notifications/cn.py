"""Small tables of words every reader of the ledger's mail sees, in one place, with no imports
(read commands such as `rectify outbox` use them without loading the templates):
the Chinese date (2026年12月31日: the templates' filter cn_date, the digests' notes) and the
label of every kind of email (outbox lists, run artifacts, an item's history)."""

from __future__ import annotations

import datetime as dt


def cn_date(value: dt.date | str | None) -> str:
    """2026-12-31 -> 2026年12月31日; empty -> "—"; a phrase (长期坚持) stays as written."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return value
    else:
        day = value
    return f"{day.year}年{day.month}月{day.day}日"


KIND_LABELS = {
    "due_soon": "到期前提醒",
    "due_today": "到期当日提醒",
    "overdue_owner": "逾期催办（责任人）",
    "overdue_leader": "逾期提醒（责任领导）",
    "overdue_secretary": "逾期通报（督查）",
    "assigned": "交办通知",
    "rejected": "销号退回通知",
    "closed": "销号通知",
    "delivery_failed": "投递失败通知",
    "report": "定期报送提醒",
    "recheck_due": "回头看提醒",
    "calendar": "日历数据提醒",
    "act_request": "办理请求",
    "code_reissued": "验证码重发",
    "code_voided": "验证码作废提示",
    "due_today_cc": "到期当日（抄送领导）",
    "digest": "综合提醒",
}

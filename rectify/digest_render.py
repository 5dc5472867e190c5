"""Rendering a sweep digest: what a person reads, from notifications/templates.

Split from rectify.reminders (planning) because wording and layout change for other reasons
than the ladder's rules: the section texts (one table, SECTION_TEXT, beside
rectify.digest_sections' for 定期报送, 回头看 and the calendar notice) and the choice between a
kind's own template and the digest template live here. Each item's link and code come in the
entries (rectify.digest_acts); the expiry note under them is rendered when there are codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rectify.digest_sections import SECTIONS as EXTRA_SECTIONS
from rectify.digest_sections import section_texts

if TYPE_CHECKING:
    from rectify.reminders import PlannedDigest

SECTION_TEXT = {
    "due_today": (
        "今日到期",
        "今日到期",
        "以下事项今日到期（逢节假日提前至节前最后一个工作日），已完成整改的请于今日提交销号申请及佐证材料；确有困难的请及时向责任领导报告。责任领导已同时收到提醒。",
    ),
    "due_soon": ("即将到期", "即将到期", "以下事项即将到期，请对照整改措施抓紧推进，确保按期完成。"),
    "overdue_owner": (
        "已逾期",
        "已逾期",
        "以下事项已超过整改时限（按到期先后排列），请尽快推进整改；如需调整时限，请按程序报批。",
    ),
    "due_today_cc": (
        "今日到期（抄送责任领导）",
        "分管事项今日到期",
        "由您担任责任领导的以下事项今日到期，已同时提醒责任人，请予关注。",
    ),
    "overdue_leader": (
        "逾期{leader}个工作日以上（责任领导督办）",
        "分管事项逾期",
        "由您担任责任领导的以下事项已逾期{leader}个工作日以上（按到期先后排列），请督促责任部门和责任人加快整改进度。",
    ),
    "overdue_secretary": (
        "逾期{secretary}个工作日以上（督查）",
        "逾期{secretary}个工作日以上",
        "以下事项已逾期{secretary}个工作日以上（按到期先后排列），请予督查督办。",
    ),
}

# Single-section emails use the kind's own template when its wording fits the settings.
_OWN_TEMPLATE = {
    "due_soon": lambda s: True,
    "overdue_owner": lambda s: True,
    "overdue_leader": lambda s: s.escalate_leader_after_days == 3,
    "overdue_secretary": lambda s: s.escalate_secretary_after_days == 10,
}


def render_digest(digest: PlannedDigest, settings) -> None:
    """Fill subject, text and html (autoescaped) from notifications/templates."""
    from notifications.compose import environment, render

    kind = digest.kind
    # the codes' expiry, for the note under the items (rectify.digest_acts), when there are codes
    acts_until = max(
        (
            e["act"]["expires"]
            for entries in digest.sections.values()
            for e in entries
            if isinstance(e, dict) and (e.get("act") or {}).get("code")
        ),
        default=None,
    )
    if kind in _OWN_TEMPLATE and _OWN_TEMPLATE[kind](settings):
        digest.subject, digest.text, digest.html = render(
            kind, recipient=digest.name, day=digest.day, items=digest.sections[kind], acts_until=acts_until
        )
        return
    fmt = {"leader": settings.escalate_leader_after_days, "secretary": settings.escalate_secretary_after_days}
    sections = []
    for name, items in digest.sections.items():
        if name in EXTRA_SECTIONS:
            title, short, intro = section_texts(name, items, settings)
            items = [] if name == "calendar" else items  # a notice, not a list of items
        else:
            title, short, intro = (t.format(**fmt) for t in SECTION_TEXT[name])
        days = "left" if name == "due_soon" else "overdue" if name.startswith("overdue") else None
        sections.append(
            {"kind": name, "title": title, "short": short, "intro": intro, "entries": items, "days": days}
        )
    env = environment()
    ctx = {"recipient": digest.name, "day": digest.day, "sections": sections, "acts_until": acts_until}
    subject = env.get_template("digest/subject.txt").render(**ctx)
    digest.subject = " ".join(p.strip() for p in subject.splitlines() if p.strip())
    digest.text = env.get_template("digest/body.txt").render(**ctx)
    digest.html = env.get_template("digest/body.html").render(**ctx)

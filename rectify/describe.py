"""The words people read at the top of a waiting form (Prefect renders them as Markdown).

Order matters to the person deciding: why their last entry was refused (if it was), what to
do, the submission under review, the item itself, then its history (earlier submissions and
sign-offs, rejection comments, emails sent). Everything that came from a register or a person
goes through the report's md_escape, so a description cannot add links or images or break the
layout; only the fixed wording around it is Markdown.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import AuditRecord, Item
from notifications.compose import KIND_LABELS

INSTRUCTIONS = {
    "assign": "请秘书确认（或修改）责任人和责任领导，选择交办人，并填写邮件中的验证码后交办。",
    "submit": "请责任人（或责任领导）填写销号申请：整改情况说明、佐证材料、本次完成的措施序号，选择提交人，"
    "并填写本人邮件中的验证码；有时限的措施须全部完成（或在本次申请中完成）。如需延期，"
    "请在“申请事项”中选择“申请延期”，并填写措施序号、申请延期至和延期理由，由秘书审批。",
    "extend": "请秘书审批延期申请：批准延期，或不予延期（须填写审批意见）；申请人不能审批自己的申请。",
    "leader_review": "请责任领导审核销号申请（签字背书）：同意后转秘书审核，退回则回到整改中；提交人不能审核自己的申请。",
    "progress": "本事项为长期坚持（无整改时限，不申请销号）：请责任人（或责任领导）按期报送整改进展，"
    "选择报送人，并填写本人邮件中的验证码；报送后流程等待下一次报送。",
    "review": "请秘书审核销号申请：同意销号，或退回整改（审核意见即补充整改要求）；提交人不能审核自己的申请。",
}


def md(value: object) -> str:
    from rectify.report.render import md_escape  # lazy: the CLI imports this module too

    return md_escape(value)


def describe_item(item: Item) -> str:
    from rectify.item_process import short_title
    from rectify.measures import LIGHT_LABELS, Lights
    from rectify.settings import office_today

    # Lights as of the office's today: the form is read by people now, not on the run's day.
    lights = Lights(office_today())
    open_due = min((m.deadline for m in item.measures if m.deadline and not m.done_on), default=None)
    lines = [
        f"**{md(item.code)} {md(short_title(item.description))}**",
        "",
        f"问题描述：{md(item.description)}",
        "",
        f"责任领导：{md(item.leader.name if item.leader else '-')}"
        f"　责任部门：{md(item.department or '-')}"
        f"　责任人：{md(item.owner.name if item.owner else '-')}",
        "",
        f"整改时限：{item.deadline or '长期坚持'}　当前状态：{item.status.label}"
        f"　亮灯：{LIGHT_LABELS[lights.of(item.status, open_due)]}",
    ]
    if item.measures:
        lines += ["", "整改措施："] + [
            f"{i}. {md(m.text)}（{md(m.deadline_text)}"
            + (f"，原定时限 {m.original_deadline}" if m.original_deadline else "")
            + "）"
            + (
                f" 已完成（{m.done_on}）"
                if m.done_on
                else f" 未完成 {LIGHT_LABELS[lights.of(item.status, m.deadline)]}"
            )
            for i, m in enumerate(item.measures, 1)
        ]
    return "\n".join(lines)


def _submission(rec: AuditRecord) -> list[str]:
    evidence = (rec.details or {}).get("evidence") or []
    return [
        f"提交人：{md(rec.actor)}（{rec.day.isoformat()}）",
        "",
        f"整改情况说明：{md(rec.comment or '-')}",
        "",
        "佐证材料：" + ("；".join(md(e) for e in evidence) if evidence else "（未附）"),
    ]


def _extension(session: Session, item: Item) -> list[str]:
    from models import Person
    from rectify.waits import pending_extension

    ext = pending_extension(session, item)
    if ext is None:
        return []
    asker = session.get(Person, ext.requested_by_id)
    return [
        f"申请人：{md(asker.name if asker else '-')}（{ext.requested_on.isoformat()}）",
        "",
        f"第{ext.position + 1}条措施：{md(ext.measure_text)}",
        "",
        f"原时限：{ext.old_deadline}　申请延期至：{ext.new_deadline}",
        "",
        f"延期理由：{md(ext.reason)}",
    ]


def _history(session: Session, item: Item, history: list[AuditRecord]) -> list[str]:
    from rectify.waits import reminders_sent

    lines = []
    for rec in history:
        if rec.action == "submit":
            lines.append(f"- {rec.day.isoformat()} {md(rec.actor)} 申请销号：{md(rec.comment or '-')}")
        elif rec.action == "signoff":
            lines.append(
                f"- {rec.day.isoformat()} {md(rec.actor)} 签字背书"
                + (f"：{md(rec.comment)}" if rec.comment else "")
            )
        else:
            lines.append(f"- {rec.day.isoformat()} {md(rec.actor)} 退回，补充整改要求：{md(rec.comment)}")
    for day, kind, recipient in reminders_sent(session, item):
        lines.append(f"- {day.isoformat()} 邮件“{KIND_LABELS.get(kind, md(kind))}”发给 {md(recipient)}")
    return ["", "**事项经过**", ""] + (lines or ["（暂无）"])


def describe_wait(session: Session, item: Item, wait, history: list[AuditRecord], refusal: str = "") -> str:
    parts = []
    if refusal:
        parts += [f"**上次提交未被受理：{md(refusal)}**", ""]
    parts.append(INSTRUCTIONS[wait.step])
    if wait.step in ("leader_review", "review"):
        last = [a for a in history if a.action == "submit"][-1:]
        if last:
            parts += ["", "**待审核的销号申请**", ""] + _submission(last[0])
    if wait.step == "extend":
        parts += ["", "**待审批的延期申请**", ""] + _extension(session, item)
    parts += ["", describe_item(item)]
    parts += _history(session, item, history)
    return "\n".join(parts)

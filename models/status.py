"""Item states and roles, with the Chinese words people read.

The values are what the database stores; the labels are what the CLI, forms and reports show.
"""

from __future__ import annotations

import enum
import re


class Status(str, enum.Enum):
    new = "new"
    in_progress = "in_progress"
    leader_review = "leader_review"
    submitted = "submitted"
    closed = "closed"
    ongoing = "ongoing"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def is_open(self) -> bool:
        return self is not Status.closed


STATUS_LABELS = {
    Status.new: "待交办",
    Status.in_progress: "整改中",
    Status.leader_review: "待领导审核",
    Status.submitted: "待审核",
    Status.closed: "已销号",
    Status.ongoing: "长期坚持",
}

OPEN_STATUSES = tuple(s for s in Status if s.is_open)

# What each audit record's action is called (rectify.workflow records them; `show` prints them).
ACTION_LABELS = {
    "import": "导入",
    "update": "台账更新",
    "assign": "交办",
    "reassign": "调整责任人",
    "progress": "记录进展",
    "submit": "申请销号",
    "signoff": "领导审核通过（签字背书）",
    "approve": "审核通过（销号）",
    "reject": "退回",
    "reopen": "回头看（重新整改）",
    "mark_ongoing": "转为长期坚持",
    "measure_done": "完成整改措施",
    "extension_request": "申请延期",
    "extension_approve": "批准延期",
    "extension_reject": "不予延期",
    "recheck": "回头看（整改巩固）",
    "import_conflict": "导入冲突（保留台账值）",
    "relink_run": "补建流程运行",
}

# An extension's (申请延期) state, models.items.EXTENSION_STATUSES, as people read it.
EXTENSION_STATUS_LABELS = {"pending": "待审批", "approved": "已批准", "rejected": "未批准"}


class Role(str, enum.Enum):
    owner = "owner"
    leader = "leader"
    secretary = "secretary"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {Role.owner: "责任人", Role.leader: "责任领导", Role.secretary: "秘书"}

# How offices write the role column of the people sheet.
ROLE_WORDS = {
    "owner": Role.owner,
    "责任人": Role.owner,
    "具体责任人": Role.owner,
    "经办人": Role.owner,
    "leader": Role.leader,
    "责任领导": Role.leader,
    "分管领导": Role.leader,
    "领导": Role.leader,
    "secretary": Role.secretary,
    "秘书": Role.secretary,
    "督查": Role.secretary,
    "督办": Role.secretary,
    "督查员": Role.secretary,
}


def parse_role(word: str) -> Role | None:
    """'秘书/督查' or '分管领导、责任领导' are fine as long as every part means the same role."""
    parts = [p for p in re.split(r"[/、，,\s]+", word.strip().lower()) if p]
    roles = {ROLE_WORDS.get(p) for p in parts}
    return roles.pop() if len(roles) == 1 and None not in roles else None


def parse_status(word: str) -> Status:
    """Accept the code value or the Chinese label (for --status on the command line)."""
    for s in Status:
        if word in (s.value, s.label):
            return s
    raise ValueError(f"未知的状态“{word}”，可选：" + "、".join(f"{s.value}（{s.label}）" for s in Status))

"""Which form an item's run waits for now: a pure function of the ledger.

`current_wait` answers, from the ledger alone, which step the item waits for (交办 signature,
销号申请 or 申请延期, 延期审批, 领导审核, 销号审核; a 长期坚持 item, which is never closed, waits
for its next 进展报送), under which pause key, with which fields, choices (the ledger's
people with the right role), defaults (what the ledger knows, or what the person entered before
a refusal) and description (the submission under review first, then the item's history). The
flow (flows/item.py) and a run created already waiting (the intake) build the same form from it
with flows.forms.build_form, and the worklist tag (待交办 · 待提交 · 待领导审核 · 待审核) comes
from the same answer, so the run list and the form never disagree.

No Prefect here: this is the domain side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditRecord, Item, OutboxMail, Person, ReminderLine, Role, Status

# Forms' option values are what a person reads in the UI; the CLI sends the same words.
APPROVE = "同意销号"
REJECT = "退回整改"
CLOSURE_REQUEST, EXTENSION_REQUEST = "申请销号", "申请延期"  # the submission form's `request`

SUMMARY_MAX = 4000
EVIDENCE_MAX_ITEMS = 30
EVIDENCE_MAX = 500
COMMENT_MAX = 2000
CODE_MAX = 16

# step -> the worklist tag a waiting run carries (the secretary filters the run list by it)
WAIT_TAGS = {
    "assign": "待交办",
    "submit": "待提交",
    "extend": "待审批延期",
    "leader_review": "待领导审核",
    "review": "待审核",
    "progress": "待报送进展",
}
LIGHT_TAGS = ("临期", "逾期")


@dataclass(frozen=True)
class FormField:
    name: str
    title: str
    description: str
    kind: str = "text"  # text | list | choice; multi | numbers | number | date (always optional)
    choices: tuple[str, ...] = ()
    default: object = None  # None: required (text, list, choice)
    max_length: int | None = None


@dataclass
class Wait:
    step: str  # assign | submit | extend | leader_review | review
    key_base: str
    title: str  # the form's name, e.g. 销号申请
    fields: list[FormField] = field(default_factory=list)
    description: str = ""

    @property
    def tag(self) -> str:
        return WAIT_TAGS[self.step]


def submissions(session: Session, item: Item) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.item_id == item.id, AuditRecord.action.in_(("submit", "signoff", "reject")))
            .order_by(AuditRecord.id)
        )
    )


def _names(session: Session, role: Role, exclude: set[int] = frozenset()) -> tuple[str, ...]:
    return tuple(
        session.scalars(
            select(Person.name)
            .where(Person.role == role, Person.id.not_in(exclude or {-1}))
            .order_by(Person.name)
        )
    )


def signoff_leaders(session: Session, item: Item) -> tuple[str, ...]:
    """Who may sign off: the item's leader, or any other leader when the leader submitted."""
    if item.leader_id is not None and item.submitted_by_id != item.leader_id:
        return (item.leader.name,)
    return _names(session, Role.leader, {item.submitted_by_id} if item.submitted_by_id else set())


def reviewers(session: Session, item: Item) -> tuple[str, ...]:
    return _names(session, Role.secretary, {item.submitted_by_id} if item.submitted_by_id else set())


def _pick(choices: tuple[str, ...], *preferred: str | None) -> str | None:
    """The default of a choice field: the first preferred name that is a choice, or the only one."""
    for name in preferred:
        if name and name in choices:
            return name
    return choices[0] if len(choices) == 1 else None


def _code_field() -> FormField:
    return FormField("code", "验证码", "邮件中发给您本人的6位验证码（一次有效）", max_length=CODE_MAX)


def _decision_fields(
    who: str,
    reviewer_choices: tuple[str, ...],
    entered: dict,
    choices: tuple[str, str] = (APPROVE, REJECT),
    what: str = "审核",
    hint: str = "同意，或退回重新整改",
    comment_hint: str = "退回时必须填写（即补充整改要求）",
) -> list[FormField]:
    return [
        FormField("decision", f"{what}结论", hint, "choice", choices, entered.get("decision")),
        FormField(
            "comment", f"{what}意见", comment_hint, default=entered.get("comment", ""), max_length=COMMENT_MAX
        ),
        FormField(
            "reviewer",
            f"{what}人",
            f"{who}姓名",
            "choice",
            reviewer_choices,
            _pick(reviewer_choices, entered.get("reviewer")),
        ),
        _code_field(),
    ]


def pending_extension(session: Session, item: Item):
    """The 申请延期 awaiting a secretary (one at a time per item), or None."""
    from models import Extension

    return session.scalars(
        select(Extension)
        .where(Extension.item_id == item.id, Extension.status == "pending")
        .order_by(Extension.id)
        .limit(1)
    ).first()


def extension_requests(session: Session, item: Item) -> int:
    """How many 申请延期 the item has had: each one moves the submission form's key on, so the
    form is asked afresh after the secretary's decision."""
    from sqlalchemy import func

    from models import Extension

    return (
        session.scalar(select(func.count()).select_from(Extension).where(Extension.item_id == item.id)) or 0
    )


def _submission_fields(item: Item, people: tuple[str, ...], entered: dict) -> list[FormField]:
    """销号申请, or (request 申请延期) one measure's extension: i12a's fields, with the choices."""
    return [
        FormField(
            "request",
            "申请事项",
            "申请销号；或为一条措施申请延期（填写下方延期三项）",
            "choice",
            (CLOSURE_REQUEST, EXTENSION_REQUEST),
            entered.get("request") or CLOSURE_REQUEST,
        ),
        FormField(
            "summary",
            "整改情况说明",
            "整改措施落实情况和取得的成效（申请销号时必填）",
            default=entered.get("summary") or "",
            max_length=SUMMARY_MAX,
        ),
        FormField(
            "evidence",
            "佐证材料",
            f"文件路径或链接，每项一条（至多{EVIDENCE_MAX_ITEMS}项）",
            "list",
            default=list(entered.get("evidence") or []),
            max_length=EVIDENCE_MAX,
        ),
        FormField(
            "completes",
            "本次完成的措施",
            "本次申请同时完成的措施序号（第几条），每项一条",
            "numbers",
            default=list(entered.get("completes") or []),
        ),
        FormField(
            "measure", "延期措施序号", "申请延期的措施是第几条", "number", default=entered.get("measure")
        ),
        FormField(
            "extend_to", "申请延期至", "新的完成时限（须为工作日）", "date", default=entered.get("extend_to")
        ),
        FormField(
            "reason",
            "延期理由",
            "申请延期时必填",
            default=entered.get("reason") or "",
            max_length=COMMENT_MAX,
        ),
        FormField(
            "submitter",
            "提交人",
            "责任人或责任领导",
            "choice",
            people,
            _pick(people, entered.get("submitter"), item.owner and item.owner.name),
        ),
        _code_field(),
    ]


def progress_notes(session: Session, item: Item) -> int:
    from sqlalchemy import func

    from models import ProgressNote

    return (
        session.scalar(select(func.count()).select_from(ProgressNote).where(ProgressNote.item_id == item.id))
        or 0
    )


def _progress_fields(item: Item, people: tuple[str, ...], entered: dict) -> list[FormField]:
    """进展报送 of a 长期坚持 item: what was done this period, optionally how far along."""
    return [
        FormField(
            "note",
            "整改进展",
            "本期整改措施落实情况",
            default=entered.get("note") or None,
            max_length=SUMMARY_MAX,
        ),
        FormField("percent", "完成百分比", "0到100，可不填", "number", default=entered.get("percent")),
        FormField(
            "reporter",
            "报送人",
            "责任人或责任领导",
            "choice",
            people,
            _pick(people, entered.get("reporter"), item.owner and item.owner.name),
        ),
        _code_field(),
    ]


def current_wait(
    session: Session, code: str, *, refusal: str = "", entered: dict | None = None
) -> Wait | None:
    """The form the item waits for now, or None (closed: nothing to wait for)."""
    from rectify import workflow
    from rectify.describe import describe_wait

    entered = {k: v for k, v in (entered or {}).items() if k != "code"}
    item = workflow.get_item(session, code)
    history = submissions(session, item)
    round_ = sum(1 for a in history if a.action == "submit")
    if item.status is Status.closed:
        return None
    if item.status is Status.new:
        owners = _names(session, Role.owner) + _names(session, Role.leader)
        leaders = _names(session, Role.leader)
        secretaries = _names(session, Role.secretary)
        wait = Wait(
            "assign",
            "assign",
            "交办",
            [
                FormField(
                    "owner",
                    "责任人",
                    "负责具体整改的人员",
                    "choice",
                    owners,
                    _pick(owners, entered.get("owner"), item.owner and item.owner.name),
                ),
                FormField(
                    "leader",
                    "责任领导",
                    "事项的责任领导",
                    "choice",
                    leaders,
                    _pick(leaders, entered.get("leader"), item.leader and item.leader.name),
                ),
                FormField(
                    "secretary",
                    "交办人（秘书）",
                    "签署交办的秘书",
                    "choice",
                    secretaries,
                    _pick(secretaries, entered.get("secretary")),
                ),
                _code_field(),
            ],
        )
    elif (ext := pending_extension(session, item)) is not None:
        # asked for (in the form or on the command line): a secretary, never the asker, decides
        names = _names(session, Role.secretary, {ext.requested_by_id})
        wait = Wait(
            "extend",
            f"extend-{ext.id}",
            "延期审批",
            _decision_fields(
                "秘书",
                names,
                entered,
                (extensions_words()),
                "审批",
                "批准延期，或不予延期",
                "不予延期时必须填写",
            ),
        )
    elif item.status is Status.ongoing:
        # 长期坚持: no closure to apply for (the transition table has none), but a progress
        # note every period (DOMAIN.md 定期报送); each report moves the key on
        people = tuple(p.name for p in (item.owner, item.leader) if p is not None)
        wait = Wait(
            "progress",
            f"progress-{progress_notes(session, item) + 1}",
            "进展报送",
            _progress_fields(item, people, entered),
        )
    elif item.status is Status.in_progress:
        people = tuple(p.name for p in (item.owner, item.leader) if p is not None)
        asked = extension_requests(session, item)
        wait = Wait(
            "submit",
            f"submit-{round_ + 1}" + (f"e{asked}" if asked else ""),
            "销号申请",
            _submission_fields(item, people, entered),
        )
    elif item.status is Status.leader_review:
        wait = Wait(
            "leader_review",
            f"signoff-{round_}",
            "领导审核",
            _decision_fields("责任领导", signoff_leaders(session, item), entered),
        )
    else:
        wait = Wait(
            "review",
            f"review-{round_}",
            "销号审核",
            _decision_fields("秘书", reviewers(session, item), entered),
        )
        # 回头看: the secretary's approval sets the 复核日期 (empty: the default months later)
        wait.fields.insert(
            3,
            FormField(
                "recheck_on",
                "复核日期（回头看）",
                "同意销号时填写；留空则为三个月后",
                "date",
                default=entered.get("recheck_on"),
            ),
        )
    wait.description = describe_wait(session, item, wait, history, refusal)
    return wait


def extensions_words() -> tuple[str, str]:
    from rectify.extensions import APPROVE as EXT_APPROVE, REJECT as EXT_REJECT

    return EXT_APPROVE, EXT_REJECT


def reminders_sent(session: Session, item: Item) -> list[tuple]:
    """(day, kind, recipient) of every email about the item, oldest first, for the history."""
    return list(
        session.execute(
            select(OutboxMail.day, OutboxMail.kind, OutboxMail.recipient_name)
            .join(ReminderLine, ReminderLine.outbox_id == OutboxMail.id)
            .where(ReminderLine.item_id == item.id)
            .order_by(OutboxMail.id)
        )
    )

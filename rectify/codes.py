"""One-time codes (验证码): who acts must be proven, not typed.

A code belongs to one person, one item and one step (交办 signature, 销号申请, 领导审核,
销号审核). It is issued in the transaction that queues the email carrying it, so an email and
its code exist together or not at all. It is used once, expires after RECTIFY_CODE_TTL_DAYS,
and a newer code for the same person, item and step replaces it (the latest email counts).

No secret in the ledger: a row holds a random nonce and the id of the key, never the code or
a hash a guess could be checked against. The code is HMAC(key, nonce) reduced to six digits,
the key kept outside the database (rectify.code_key); it is derived twice only: when the email
is sent (the outbox stores the token `[[code:<id>]]`, bound at send time by rectify.links like
the run links) and when a form is checked (`consume` recomputes it). A dump or backup of the
ledger holds no live code and cannot test a guess.

`consume` runs inside the transaction of the action it proves: the code is spent exactly when
the action commits. Its refusals are `CodeRefused` (one Chinese line); a wrong guess is
`WrongCode`, which the caller counts with `count_wrong_try` in a transaction of its own after
the action's rolled back, because the count must survive the refusal. The fifth wrong guess
voids the code; the caller then sends a fresh one and tells the secretaries.

How an audited actor was proven travels with the session (`prove`): rectify.workflow.record
writes it into every audit record of that transaction.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from models import ActionCode, Item, Person
from models.base import utcnow
from rectify import code_key
from rectify.errors import RectifyError

DIGITS = 6
MAX_WRONG_TRIES = 5
STEP_LABELS = {
    "assign": "交办",
    "submit": "销号申请",
    "extend": "延期审批",
    "leader_review": "领导审核",
    "review": "销号审核",
    "progress": "进展报送",
    "intake": "交办确认",
}  # intake: one code for a register's assignments (rectify.intake_confirm)

TOKEN = "[[code:{id}]]"  # what the outbox stores where the email shows the code
BY_CODE = "邮件验证码"
BY_CLI = "命令行"


class CodeRefused(RectifyError):
    """The code does not prove the person for this item and step; nothing was changed."""


class WrongCode(CodeRefused):
    """A wrong guess at a live code: the caller counts it (count_wrong_try)."""

    def __init__(self, message: str, code_id: int):
        super().__init__(message)
        self.code_id = code_id


def prove(session: Session, proof: str, os_account: str | None = None) -> None:
    """Say how the actors of this session's transaction were proven (see workflow.record)."""
    session.info["proof"] = (proof, os_account)


def prove_cli(session: Session) -> None:
    """The command line: the administrator's console, recorded with the OS account."""
    try:
        account = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers): say so rather than guess
        account = "未知账户"
    prove(session, BY_CLI, account[:64])


def derive(key: bytes, nonce: str) -> str:
    """The code of a nonce under a key: HMAC-SHA256, 64 bits of it reduced to DIGITS digits."""
    mac = hmac.new(key, f"rectify-code:{nonce}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:8], 'big') % 10**DIGITS:0{DIGITS}d}"


def token(code_id: int) -> str:
    return TOKEN.format(id=code_id)


def _row(
    person_id: int, item_id: int, step: str, key: code_key.CodeKey, now: datetime, ttl_days: int
) -> dict:
    return {
        "person_id": person_id,
        "item_id": item_id,
        "step": step,
        "nonce": secrets.token_hex(16),
        "key_id": key.key_id,
        "issued_at": now,
        "expires_at": now + timedelta(days=ttl_days),
        "wrong_tries": 0,
        "tried_keys": [],
    }


def issue(
    session: Session,
    person: Person,
    item: Item,
    step: str,
    *,
    now: datetime | None = None,
    ttl_days: int | None = None,
) -> str:
    """A fresh code for the person, item and step; earlier live ones of the same triple are
    superseded. Returns its token (`[[code:<id>]]`): the email carries the token, delivery
    puts the code in (rectify.links); `reveal` gives the code itself."""
    if ttl_days is None:
        from rectify.settings import get_settings

        ttl_days = get_settings().code_ttl_days
    return issue_many(session, [(person.id, item.id, step)], now=now, ttl_days=ttl_days)[
        (person.id, item.id, step)
    ]


def issue_many(
    session: Session, wanted, *, now: datetime | None = None, ttl_days: int
) -> dict[tuple[int, int, str], str]:
    """`issue` for many (person id, item id, step) at once: one UPDATE (per 500) voiding the
    live codes they supersede and one bulk INSERT, whatever their number (the daily sweep
    issues one per person and item of its digests). Returns the tokens by triple."""
    wanted = sorted(set(wanted))
    if not wanted:
        return {}
    key = code_key.current()  # before writing: no key, no code (one clear line)
    now = now or utcnow()
    for start in range(0, len(wanted), 500):
        session.execute(
            update(ActionCode)
            .where(
                tuple_(ActionCode.person_id, ActionCode.item_id, ActionCode.step).in_(
                    wanted[start : start + 500]
                ),
                ActionCode.used_at.is_(None),
                ActionCode.voided_at.is_(None),
            )
            .values(voided_at=now, void_reason="superseded")
            .execution_options(synchronize_session=False)
        )
    rows = [_row(p, i, s, key, now, ttl_days) for p, i, s in wanted]
    table = ActionCode.__table__
    by_nonce = {r["nonce"]: (r["person_id"], r["item_id"], r["step"]) for r in rows}
    ids = session.execute(table.insert().returning(table.c.id, table.c.nonce), rows).all()
    return {by_nonce[nonce]: token(code_id) for code_id, nonce in ids}


# What an email shows instead of a code voided before the email was sent.
VOIDED_NOTE = {
    "superseded": "（已作废：请使用最近一封邮件中的验证码）",
    "tries": "（已作废：错误次数过多，新的验证码另行发送）",
    "rekeyed": "（已作废：系统升级后另行发送新的验证码）",
}
GONE_NOTE = "（验证码已失效）"


def reveal_one(session: Session, code_token: str) -> str:
    """The code behind one token (what its email shows)."""
    return next(iter(reveal(session, [code_token]).values()))


class OtherKey(RectifyError):
    """The code was issued under another key than this process's (RECTIFY_CODE_SECRET)."""


def reveal(session: Session, ids: Iterable[int | str]) -> dict[int, str]:
    """The code of each id (or token) as the email shows it: the code derived from its nonce,
    or a note when it was voided before the email went (a queued email keeps the code it was
    issued with otherwise: used or expired ones are refused at the form, with the reason).
    Raises OtherKey when a code was issued under another key: that email cannot be built here."""
    wanted = sorted({int(str(i).strip("[]").removeprefix("code:")) for i in ids})
    if not wanted:
        return {}
    key = code_key.current()
    out = {i: GONE_NOTE for i in wanted}
    for row in session.execute(
        select(
            ActionCode.id, ActionCode.nonce, ActionCode.key_id, ActionCode.voided_at, ActionCode.void_reason
        ).where(ActionCode.id.in_(wanted))
    ):
        if row.voided_at is not None:
            out[row.id] = VOIDED_NOTE.get(row.void_reason or "", GONE_NOTE)
        elif row.nonce is None:
            out[row.id] = GONE_NOTE
        elif row.key_id != key.key_id:
            raise OtherKey(
                f"验证码 {row.id} 由另一密钥签发（本进程的 {code_key.ENV} 或 code.key 与签发时不同）"
            )
        else:
            out[row.id] = derive(key.key, row.nonce)
    return out


def _aware(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def consume(
    session: Session, person: Person, item: Item, step: str, code: str | None, *, now: datetime | None = None
) -> None:
    """Spend the person's code for this item and step, or raise why it does not prove them."""
    now = now or utcnow()
    what = f"{person.name}的{STEP_LABELS[step]}验证码"
    code = (code or "").strip()
    if not code:
        raise CodeRefused(f"请填写邮件中发给{person.name}的{STEP_LABELS[step]}验证码")
    if not (code.isascii() and code.isdigit() and len(code) == DIGITS):
        raise CodeRefused(f"验证码应为邮件中的{DIGITS}位数字")
    rows = session.scalars(
        select(ActionCode)
        .where(ActionCode.item_id == item.id, ActionCode.step == step)
        .order_by(ActionCode.id.desc())
        .with_for_update()
    ).all()
    key = code_key.current()

    def is_it(r: ActionCode) -> bool:  # recomputed with the key: the ledger holds no code
        return (
            r.nonce is not None
            and r.key_id == key.key_id
            and hmac.compare_digest(derive(key.key, r.nonce), code)
        )

    mine = [r for r in rows if r.person_id == person.id]
    live = next((r for r in mine if r.used_at is None and r.voided_at is None), None)
    if live is not None and live.key_id != key.key_id:
        raise CodeRefused(
            f"验证码无法核对：本系统的验证码密钥与签发时不同，请管理员检查 {code_key.ENV}"
            "（各台机器须相同）；本次输入不计入错误次数"
        )
    match = next((r for r in mine if is_it(r)), None)
    if match is not None:
        if match.used_at is not None:
            raise CodeRefused("该验证码已使用过，不能再次使用（请使用最近一封邮件中的验证码）")
        if match.voided_at is not None:
            raise CodeRefused(
                "该验证码已作废"
                + (
                    "（错误次数过多），新的验证码已发送到您的邮箱"
                    if match.void_reason == "tries"
                    else "，请使用最近一封邮件中的验证码"
                )
            )
        if _aware(match.expires_at) <= now:
            raise CodeRefused("该验证码已过期，请联系秘书重新发送")
        result = session.execute(
            update(ActionCode)
            .where(ActionCode.id == match.id, ActionCode.used_at.is_(None), ActionCode.voided_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise CodeRefused("该验证码刚被使用，请刷新后重试")
        return
    if live is None:
        rekeyed = next((r for r in mine if r.void_reason == "rekeyed"), None)
        raise CodeRefused(
            f"{person.name}没有事项 {item.code} 的有效{STEP_LABELS[step]}验证码"
            + (
                "（系统升级后原验证码已作废，新的验证码随下一封办理邮件发送，或请秘书重新发送）"
                if rekeyed is not None and mine[0] is rekeyed
                else ""
            )
        )
    others = any(is_it(r) for r in rows if r.person_id != person.id)
    reason = f"该验证码不是发给{person.name}的，不能代替他人操作" if others else f"{what}不正确"
    raise WrongCode(reason, live.id)


def count_wrong_try(
    session: Session, code_id: int, attempt: str, *, now: datetime | None = None
) -> tuple[bool, int]:
    """Count a wrong guess once per `attempt` (a form submission's run id and pause key).

    Returns (voided now, tries left): the caller sends a fresh code only when this guess was
    the one that voided it."""
    now = now or utcnow()
    row = session.get(ActionCode, code_id, with_for_update=True, populate_existing=True)
    if row is None or row.used_at is not None:
        return False, 0
    siblings = session.scalars(
        select(ActionCode).where(
            ActionCode.person_id == row.person_id,
            ActionCode.item_id == row.item_id,
            ActionCode.step == row.step,
        )
    ).all()
    # a replay (of this code's guess, or of one that voided an earlier code) is not new
    prior = next((r for r in siblings if attempt in (r.tried_keys or [])), None)
    if prior is not None or row.voided_at is not None:
        prior = prior or row
        return False, 0 if prior.voided_at else MAX_WRONG_TRIES - prior.wrong_tries
    row.wrong_tries += 1
    row.tried_keys = [*(row.tried_keys or []), attempt]
    if row.wrong_tries >= MAX_WRONG_TRIES:
        row.voided_at, row.void_reason = now, "tries"
    session.flush()
    return row.voided_at is not None, MAX_WRONG_TRIES - row.wrong_tries

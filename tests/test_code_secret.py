"""No secret in the ledger: the 验证码 are derived with a key kept outside the database
(rectify.code_key), the outbox stores `[[code:<id>]]` and delivery binds it (rectify.links).

A dump of the whole ledger after an intake, digests and submissions holds none of the codes
the .eml files carry; a ledger read without the key cannot check a guess; a process with
another key refuses to check (and to send) rather than call a right code wrong; the codes
still work end to end; migration 0008 voids the old unkeyed codes and scrubs them from the
stored emails.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text, update

from ledger_helpers import dump
from mail_codes import CODE_RE, mails, text_of
from models import ActionCode, Item, OutboxMail, Person, Status
from models.base import utcnow
from models.db import session_factory
from notifications.smtp import MailConfig
from rectify import acting, code_key, code_reissue, codes
from rectify import item_process as steps
from rectify.delivery import deliver_pending
from rectify.reminders import plan_reminders, record_reminders
from rectify.settings import Settings, get_settings
from reminder_helpers import CAL, item, people

DAY = date(2026, 11, 30)
SESSION_KEY = os.environ["RECTIFY_CODE_SECRET"]  # tests/conftest.py
SETTINGS = Settings(_env_file=None, reporting="off", ui_url="http://10.0.0.5:4200")


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Settings from the environment, re-read after each change (set(NAME=value))."""

    def apply(**values: str | None) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(f"RECTIFY_{name.upper()}", raising=False)
            else:
                monkeypatch.setenv(f"RECTIFY_{name.upper()}", value)
        get_settings.cache_clear()

    apply(outbox_dir=str(tmp_path / "outbox"), ui_url=SETTINGS.ui_url)
    yield apply
    get_settings.cache_clear()


def deliver(maker, outbox, **kw):
    return deliver_pending(maker, MailConfig(outbox_dir=outbox), day=DAY, **kw)


def codes_in_eml(outbox) -> set[str]:
    return {c for m in mails(outbox) for c in CODE_RE.findall(text_of(m))}


def strings(value):
    """Every text in a dumped value (JSON columns hold lists and dicts)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)


def test_a_dump_of_the_ledger_holds_no_code_the_emails_carry(db_url, tmp_path, env):
    maker = session_factory(db_url)
    outbox = tmp_path / "outbox"
    with maker.begin() as s:
        p = people(s)
        for code in ("A-1", "A-2"):  # overdue: the sweep's digests list them
            item(s, code, p["刘洋"], p["周建国"], date(2026, 11, 10), status=Status.new)
        item(s, "B-1", p["孙丽"], p["周建国"], date(2026, 11, 12), status=Status.new)
    with maker.begin() as s, acting.one_email_per_person(s):  # the intake's one transaction
        for code in ("A-1", "A-2", "B-1"):
            assert steps.assign_in_session(s, code, DAY, "陈静") is None
    deliver(maker, outbox)
    with maker.begin() as s:  # the daily sweep: digests, a fresh code per person and item
        record_reminders(s, DAY, plan_reminders(s, DAY, CAL, SETTINGS), SETTINGS)
    deliver(maker, outbox)
    latest = {}
    for msg in mails(outbox):  # the newest code per person and item wins
        to, body = str(msg["To"]), text_of(msg)
        for block in re.split(r"\n(?=\d+\. 【)", body):
            found, code = re.search(r"【([AB]-1|A-2)】", block), CODE_RE.search(block)
            if found and code:
                latest[(to, found.group(1))] = code.group(1)
    owner_a1 = next(c for (to, it), c in latest.items() if "p3@" in to and it == "A-1")
    assert (
        steps.apply_form(
            db_url,
            "A-1",
            DAY,
            "submit",
            dict(summary="已完成整改", evidence=[], submitter="刘洋", code=owner_a1, completes=[1]),
            "run:submit-1-0",
        )
        is None
    )  # the code works end to end: the leader is asked next
    deliver(maker, outbox)
    sent = codes_in_eml(outbox)
    assert len(sent) >= 8  # 交办 (owners, leader), digests, the leader's 领导审核 request
    with maker() as s:
        live = s.scalar(
            select(ActionCode.id).where(ActionCode.used_at.is_(None), ActionCode.voided_at.is_(None)).limit(1)
        )
        stored = " ".join(s.scalars(select(OutboxMail.body_text)))
    assert live is not None and "[[code:" in stored and not CODE_RE.search(stored)
    texts = [t for rows in dump(db_url).values() for row in rows for t in strings(list(row))]
    leaked = {c for c in sent for t in texts if re.search(rf"(?<!\d){c}(?!\d)", t)}
    assert leaked == set(), f"codes found in the ledger: {leaked}"

    # The stolen ledger: without the key a nonce says nothing. A process with another key
    # cannot derive the codes (nor pass a guess): it refuses to check, counts no try.
    leader_code = CODE_RE.search(text_of(mails(outbox)[-1])).group(1)  # 领导审核, the newest
    other = "x" * 40
    with maker() as s:
        nonces = list(s.scalars(select(ActionCode.nonce).where(ActionCode.nonce.is_not(None))))
    assert {codes.derive(other.encode(), n) for n in nonces}.isdisjoint(sent) or len(
        nonces
    ) > 100  # another key gives other codes (a chance of 1e-6 each)
    env(code_secret=other)
    before = dump(db_url)
    reason = steps.apply_form(
        db_url,
        "A-1",
        DAY,
        "leader_review",
        dict(decision="同意销号", comment="同意", reviewer="周建国", code=leader_code),
        "run:signoff-1-0",
    )
    assert "密钥" in reason and "不计入" in reason
    assert dump(db_url) == before
    env(code_secret=SESSION_KEY)  # the right key: the same code is accepted
    assert (
        steps.apply_form(
            db_url,
            "A-1",
            DAY,
            "leader_review",
            dict(decision="同意销号", comment="同意", reviewer="周建国", code=leader_code),
            "run:signoff-1-1",
        )
        is None
    )


def _notice(maker) -> None:
    with maker.begin() as s:
        p = people(s)
        it = item(s, "A-1", p["刘洋"], p["周建国"], date(2026, 12, 31))
        acting.queue_act(
            s,
            kind="act_request",
            person=p["刘洋"],
            item=it,
            step="submit",
            day=DAY,
            key="t:1",
            context={"lead": "请办理", "submission": None},
        )


def test_another_key_never_sends_a_wrong_code(sqlite_url, tmp_path, env):
    maker = session_factory(sqlite_url)
    outbox = tmp_path / "outbox"
    _notice(maker)
    env(code_secret="y" * 40)  # this machine was set up with another key
    report = deliver(maker, outbox)
    assert (report.sent, report.retry) == (0, 1) and not list(outbox.glob("*.eml"))
    with maker() as s:
        row = s.scalars(select(OutboxMail)).one()
        assert row.status == "retry" and "另一密钥" in row.last_error
    with maker.begin() as s:  # the right key, later (the retry's time has come)
        s.execute(update(OutboxMail).values(next_attempt_at=None))
    env(code_secret=SESSION_KEY)
    assert deliver(maker, outbox).sent == 1
    code = CODE_RE.search(text_of(mails(outbox)[0])).group(1)
    with maker.begin() as s:
        person = s.scalars(select(Person).where(Person.name == "刘洋")).one()
        codes.consume(s, person, s.scalars(select(Item)).one(), "submit", code)


def test_a_code_voided_before_its_email_goes_says_so(sqlite_url, tmp_path, env):
    maker = session_factory(sqlite_url)
    outbox = tmp_path / "outbox"
    _notice(maker)
    with maker.begin() as s:  # a newer email for the same step, before the first was sent
        p = {x.name: x for x in s.scalars(select(Person))}
        acting.queue_act(
            s,
            kind="act_request",
            person=p["刘洋"],
            item=s.scalars(select(Item)).one(),
            step="submit",
            day=DAY,
            key="t:2",
            context={"lead": "请办理", "submission": None},
        )
    deliver(maker, outbox)
    first, second = (text_of(m) for m in mails(outbox))
    assert not CODE_RE.search(first) and "验证码：（已作废：请使用最近一封邮件中的验证码）" in first
    assert CODE_RE.search(second)


def test_the_key_file_is_made_once_0600_in_the_data_folder(tmp_path, env):
    home = tmp_path / "data"
    env(code_secret=None, home=str(home))
    code_key.load.cache_clear()
    key = code_key.current()
    path = home / code_key.KEY_FILE
    assert (
        stat.S_IMODE(path.stat().st_mode) == 0o600
        and key.key.decode() == path.read_text().strip()
        and len(key.key) == 64
    )
    code_key.load.cache_clear()
    assert code_key.current() == key and key.key.decode() not in repr(key)
    path.chmod(0o644)
    code_key.load.cache_clear()
    with pytest.raises(code_key.CodeKeyError, match="chmod 600"):
        code_key.current()
    env(code_secret="short")
    with pytest.raises(code_key.CodeKeyError, match="太短"):
        code_key.current()
    env(code_secret="z" * 40)
    assert code_key.current().key_id != key.key_id


def test_migration_0008_voids_the_unkeyed_codes_and_the_sweep_reissues_them(tmp_path, env):
    from alembic import command

    from rectify.schema import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0007")
    maker = session_factory(url)
    with maker.begin() as s:
        p = people(s)
        it = item(s, "A-1", p["刘洋"], p["周建国"], date(2026, 12, 31))
        now = DAY.isoformat()
        s.execute(
            text(
                "INSERT INTO action_codes (person_id, item_id, step, salt, digest, "
                "issued_at, expires_at, wrong_tries, tried_keys) VALUES (:p, :i, 'submit',"
                " 'ab', :d, :now, :exp, 0, '[]')"
            ),
            {"p": p["刘洋"].id, "i": it.id, "d": "0" * 64, "now": now, "exp": utcnow() + timedelta(days=14)},
        )
        s.add(
            OutboxMail(
                key="old",
                source="notice",
                day=DAY,
                kind="act_request",
                recipient_name="刘洋",
                recipient_email="p3@example.gov.cn",
                cc=[],
                subject="【销号申请】",
                body_text="验证码：483920\n",
                body_html="<p>验证码：<strong>483920</strong></p>",
                status="sent",
            )
        )
    command.upgrade(alembic_config(url), "head")
    with maker() as s:
        row = s.scalars(select(ActionCode)).one()
        mail = s.scalars(select(OutboxMail)).one()
    assert (row.void_reason, row.nonce) == ("rekeyed", None) and row.voided_at is not None
    assert "483920" not in mail.body_text + mail.body_html and "系统升级" in mail.body_text
    assert "<strong>（已作废" in mail.body_html
    with maker.begin() as s, pytest.raises(codes.CodeRefused, match="系统升级"):
        person = s.scalars(select(Person).where(Person.name == "刘洋")).one()
        codes.consume(s, person, s.scalars(select(Item)).one(), "submit", "483920")
    with maker.begin() as s:  # the next sweep: a fresh code for the step the item waits for
        assert code_reissue.reissue_rekeyed(s, DAY) == 1
    with maker.begin() as s:
        assert code_reissue.reissue_rekeyed(s, DAY) == 0  # once
    deliver(maker, tmp_path / "outbox")
    (msg,) = mails(tmp_path / "outbox")
    assert "系统升级后" in text_of(msg) and "p3@" in str(msg["To"])
    with maker.begin() as s:
        person = s.scalars(select(Person).where(Person.name == "刘洋")).one()
        codes.consume(
            s, person, s.scalars(select(Item)).one(), "submit", CODE_RE.search(text_of(msg)).group(1)
        )

"""The one-time code's life, on SQLite and PostgreSQL: issued, used once, expired, superseded,
guessed wrong until void; stored only as a nonce (the code is keyed: test_code_secret.py);
refusals change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ledger_helpers import DAY, add_item, add_people, dump
from models import ActionCode, AuditRecord, Item, OutboxMail, Person, Status
from models.base import utcnow
from rectify import codes, decisions, item_process


@pytest.fixture
def ledger(db_url, settings_env):
    settings_env(db_url)
    from models.db import session_factory

    with session_factory(db_url).begin() as s:
        p = add_people(s)
        add_item(s, "ZG-1", Status.in_progress, owner=p["刘洋"], leader=p["周建国"])
    return session_factory(db_url)


def issue(ledger, name="刘洋", step="submit", **kw) -> str:
    with ledger.begin() as s:
        person = s.scalars(select(Person).where(Person.name == name)).one()
        return codes.reveal_one(s, codes.issue(s, person, s.scalars(select(Item)).one(), step, **kw))


def consume(ledger, code, name="刘洋", step="submit", **kw) -> None:
    with ledger.begin() as s:
        person = s.scalars(select(Person).where(Person.name == name)).one()
        codes.consume(s, person, s.scalars(select(Item)).one(), step, code, **kw)


def test_a_code_is_six_random_digits_stored_only_as_a_nonce(ledger, db_url):
    seen = {issue(ledger) for _ in range(20)}
    assert all(len(c) == 6 and c.isdigit() for c in seen) and len(seen) > 15
    text = repr(dump(db_url))
    assert not any(f"'{c}'" in text for c in seen)
    with ledger() as s:
        rows = s.scalars(select(ActionCode)).all()
    assert len({r.nonce for r in rows}) == 20 and len(rows[0].nonce) == 32
    assert not hasattr(rows[0], "digest") and not hasattr(rows[0], "salt")
    assert sum(r.voided_at is None for r in rows) == 1  # the newest one counts


def test_used_once(ledger, db_url):
    code = issue(ledger)
    consume(ledger, code)
    before = dump(db_url)
    with pytest.raises(codes.CodeRefused, match="已使用过"):
        consume(ledger, code)
    assert dump(db_url) == before


def test_expired(ledger, db_url):
    code = issue(ledger, ttl_days=14)
    before = dump(db_url)
    with pytest.raises(codes.CodeRefused, match="已过期"):
        consume(ledger, code, now=utcnow() + timedelta(days=14, seconds=1))
    assert dump(db_url) == before
    consume(ledger, code, now=utcnow() + timedelta(days=13))


def test_superseded_by_the_newer_email(ledger):
    old = issue(ledger)
    new = issue(ledger)
    with pytest.raises(codes.CodeRefused, match="最近一封邮件"):
        consume(ledger, old)
    consume(ledger, new)


@pytest.mark.parametrize("code,match", [("", "请填写"), ("12345", "6位数字"), ("１２３４５６", "6位数字")])
def test_missing_or_malformed(ledger, db_url, code, match):
    issue(ledger)
    before = dump(db_url)
    with pytest.raises(codes.CodeRefused, match=match):
        consume(ledger, code)
    assert dump(db_url) == before


def test_other_persons_or_other_steps_code(ledger):
    issue(ledger)
    leaders = issue(ledger, "周建国")
    with pytest.raises(codes.WrongCode, match="不是发给刘洋的"):
        consume(ledger, leaders)
    with pytest.raises(codes.CodeRefused, match="没有事项 ZG-1 的有效领导审核验证码"):
        consume(ledger, leaders, "周建国", "leader_review")  # a submit code is not a sign-off code


def test_five_wrong_tries_void_it_and_the_secretaries_are_told(ledger, db_url):
    code = issue(ledger)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    reasons = []
    for n in range(6):  # the sixth is a replay of the fifth: counted once
        key = f"run:submit-1-{min(n, 4)}"
        reasons.append(
            item_process.apply_form(
                db_url,
                "ZG-1",
                DAY,
                "submit",
                dict(summary="完成", evidence=[], submitter="刘洋", code=wrong),
                key,
            )
        )
    assert reasons[0].endswith("（还可尝试4次）") and "作废" in reasons[4] and "作废" in reasons[5]
    with ledger() as s:
        rows = s.scalars(select(ActionCode).order_by(ActionCode.id)).all()
        mails = s.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
        assert s.scalars(select(AuditRecord)).all() == []
    assert [(r.wrong_tries, r.void_reason) for r in rows] == [(5, "tries"), (0, None)]
    assert [(m.kind, m.recipient_name) for m in mails] == [
        ("code_reissued", "刘洋"),
        ("code_voided", "陈静"),
        ("code_voided", "王芳"),
    ]
    assert "验证码：" in mails[0].body_text and "验证码：" not in mails[1].body_text
    with pytest.raises(codes.CodeRefused, match="错误次数过多"):
        consume(ledger, code)


def test_the_proof_is_in_every_audit_record_of_the_transaction(ledger):
    code = issue(ledger)
    with ledger.begin() as s:
        codes.prove(s, codes.BY_CODE)
        person = s.scalars(select(Person).where(Person.name == "刘洋")).one()
        codes.consume(s, person, s.scalars(select(Item)).one(), "submit", code)
        decisions.submit_item(s, "ZG-1", person, DAY, summary="完成", completes=[1])
    with ledger() as s:
        rec = s.scalars(select(AuditRecord)).one()
        assert (rec.action, rec.proof, rec.os_account) == ("submit", "邮件验证码", None)
        # the submission asked the leader, with the leader's own sign-off code, and nobody else
        mails = s.scalars(select(OutboxMail)).all()
    assert [(m.kind, m.recipient_name, m.cc) for m in mails] == [("act_request", "周建国", [])]
    assert "验证码：" in mails[0].body_text and "整改情况说明：完成" in mails[0].body_text

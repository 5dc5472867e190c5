"""交办确认 in the domain (rectify.intake_confirm), and the unproven import's limits.

The rules live in the domain so every route obeys them: a code that is wrong, used, expired,
missing, someone else's, or a name without the secretary's role signs nothing; a valid one
signs every ticked item of the batch in one transaction, audited 邮件验证码. An import nobody
proved cannot change who receives whose codes. Each refusal: the ledger dumped before and after.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ledger_helpers import DAY, add_item, add_people, dump
from models import ActionCode, AuditRecord, Item, OutboxMail, Status
from models.base import utcnow
from models.db import session_factory
from rectify import codes
from rectify import intake_confirm as confirm
from rectify.errors import Forbidden

CODES = ["ZG-1", "ZG-2", "ZG-3"]


@pytest.fixture
def batch_ledger(db_url, settings_env):
    """Three imported items at 待交办 with owner and leader; ZG-3 has no leader (its 交办 is refused)."""
    settings_env(db_url)
    with session_factory(db_url)() as s, s.begin():
        people = add_people(s)
        for code in CODES:
            add_item(
                s, code, Status.new, owner=people["刘洋"], leader=people["周建国"] if code != "ZG-3" else None
            )
    return db_url


def issue_all(url: str) -> dict[str, str]:
    """Queue the 交办确认 requests as the intake does; the plain codes, read back by issuing
    again is impossible (only hashes are stored), so the test issues its own, as the email would."""
    plain = {}
    with session_factory(url)() as s, s.begin():
        held = confirm.batch(s, CODES)
        assert [i.code for i in held] == CODES
        confirm.queue_requests(s, held, DAY, None)
        mails = s.scalars(select(OutboxMail).where(OutboxMail.kind == "act_request")).all()
        assert len(mails) == 2  # one per secretary (陈静, 王芳), not one per item
        for name in ("陈静", "王芳"):
            from rectify.workflow import get_person

            plain[name] = codes.reveal_one(s, codes.issue(s, get_person(s, name), held[0], confirm.STEP))
    return plain


def attempt(url: str, form: dict) -> tuple[str | None, dict]:
    return confirm.apply(url, CODES, form, DAY, f"test:{sorted(form.items())}")


def without_tries(url: str) -> dict:
    d = dump(url)
    d["action_codes"] = [row[:-2] for row in d["action_codes"]]
    return d


def test_every_refusal_changes_nothing_and_one_code_signs_the_batch(batch_ledger):
    url = batch_ledger
    plain = issue_all(url)
    wrong = f"{(int(plain['陈静']) + 1) % 10**6:06d}"
    before = without_tries(url)
    for form, why in [
        (dict(secretary="陈静", code=wrong, items=CODES), "不正确（还可尝试4次）"),
        (dict(secretary="陈静", code=plain["王芳"], items=CODES), "不是发给陈静的"),
        (dict(secretary="陈静", code="", items=CODES), "请填写"),
        (dict(secretary="陈静", items=CODES), "请填写"),
        (dict(secretary="刘洋", code=plain["陈静"], items=CODES), "无权交办"),
        (dict(secretary="冒名者", code=plain["陈静"], items=CODES), "没有“冒名者”"),
        (dict(secretary="周建国", code=plain["陈静"], items=CODES), "无权交办"),
    ]:
        reason, refused = attempt(url, form)
        assert reason and why in reason, (form, reason)
        assert refused == {}
        assert without_tries(url) == before

    # expired: nothing signed either
    with session_factory(url)() as s, s.begin():
        s.execute(update(ActionCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    reason, _ = attempt(url, dict(secretary="陈静", code=plain["陈静"], items=CODES))
    assert "已过期" in reason
    with session_factory(url)() as s, s.begin():
        s.execute(update(ActionCode).values(expires_at=utcnow() + timedelta(days=1)))

    # valid, with ZG-2 unticked: ZG-1 signed as 陈静 by 邮件验证码; ZG-3 refused (no leader)
    reason, refused = attempt(url, dict(secretary="陈静", code=plain["陈静"], items=["ZG-1", "ZG-3"]))
    assert reason is None and set(refused) == {"ZG-3"}
    with session_factory(url)() as s:
        status = dict(s.execute(select(Item.code, Item.status)).all())
        assert status == {"ZG-1": Status.in_progress, "ZG-2": Status.new, "ZG-3": Status.new}
        (rec,) = s.scalars(select(AuditRecord).where(AuditRecord.action == "assign")).all()
        assert (rec.actor, rec.proof) == ("陈静", "邮件验证码")

    # used: the same code again signs nothing (ZG-2 stays at 待交办)
    before = without_tries(url)
    reason, _ = attempt(url, dict(secretary="陈静", code=plain["陈静"], items=CODES))
    assert "已使用过" in reason
    assert without_tries(url) == before


def test_the_requests_are_issued_once_per_batch(batch_ledger):
    url = batch_ledger
    for _ in range(2):  # a re-executed intake queues nothing new and issues no second code
        with session_factory(url)() as s, s.begin():
            confirm.queue_requests(s, confirm.batch(s, CODES), DAY, None)
    with session_factory(url)() as s:
        assert len(s.scalars(select(ActionCode)).all()) == 2
        mail = s.scalars(select(OutboxMail)).first()
        assert "交办确认" in mail.subject and "ZG-1等3项" in mail.subject
        # without a UI address the email says where the form is: on the intake run, which no
        # item's run is (the 交办确认 form is not on ZG-1's run)
        for body in (mail.body_text, mail.body_html):
            assert "打开本次导入整改清单的流程运行（名称以“导入”开头，标签“待交办确认”）" in body
            assert "打开事项 ZG-1等3项 的流程运行" not in body


def test_an_unproven_import_cannot_change_who_receives_codes(db_url, settings_env, tmp_path):
    """The intake started from the UI imports as the system: it may add items and owners, but
    not change a known person's address or role, nor add a secretary."""
    from demo.register import build
    from rectify.importer import import_register
    from rectify.workdays import get_calendar

    settings_env(db_url)
    with session_factory(db_url)() as s, s.begin():
        add_people(s)  # 陈静 is p0@example.gov.cn; the demo's people sheet says otherwise
    path = build(tmp_path / "整改清单.xlsx")
    before = dump(db_url)
    with session_factory(db_url)() as s, s.begin():
        with pytest.raises(Forbidden, match="不能修改人员的邮箱或角色"):
            import_register(s, [path], day=DAY, calendar=get_calendar(None), unproven=True)
    assert dump(db_url) == before

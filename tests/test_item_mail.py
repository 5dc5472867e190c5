"""交办 notices as one email per person (the intake's transaction), an item run's delivery
limited to its own item, and a repaired run's new link and code."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from mail_codes import CODE_RE, mails, text_of
from models import Item, OutboxMail, Person, Status
from models.base import utcnow
from models.db import session_factory
from notifications.smtp import MailConfig
from rectify import acting, codes
from rectify import item_process as steps
from rectify.delivery import NOTICES, deliver_pending
from rectify.errors import RectifyError
from rectify.settings import get_settings
from reminder_helpers import item, people

DAY = date(2026, 11, 30)
UI = "http://10.0.0.5:4200"
NEW_RUN = "2d7f1a6b-0000-4000-8000-0000000000c3"


@pytest.fixture
def ui(monkeypatch):
    monkeypatch.setenv("RECTIFY_UI_URL", UI)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def ledger(maker, codes_=("A-1", "A-2", "A-3"), owner="刘洋") -> None:
    with maker.begin() as s:
        p = people(s)
        for code in codes_:
            item(s, code, p[owner], p["周建国"], date(2026, 12, 31), status=Status.new)
        item(s, "B-1", p["孙丽"], p["周建国"], date(2026, 12, 31), status=Status.new)


def assign_all(maker, item_codes) -> None:
    with maker.begin() as s, acting.one_email_per_person(s):
        for code in item_codes:
            assert steps.assign_in_session(s, code, DAY, "陈静") is None


def consume(maker, name, code, step, plain):
    with maker.begin() as s:
        person = s.scalars(select(Person).where(Person.name == name)).one()
        it = s.scalars(select(Item).where(Item.code == code)).one()
        codes.consume(s, person, it, step, plain)


def by_item(text: str) -> dict[str, str]:
    out, current = {}, None
    for line in text.splitlines():
        if line[:1].isdigit() and "【" in line:
            current = line.split("【")[1].split("】")[0]
            out[current] = ""
        if current:
            out[current] += line + "\n"
    return out


def test_one_assignment_email_per_person_with_each_items_link_and_code(db_url, tmp_path, ui):
    maker = session_factory(db_url)
    ledger(maker)
    assign_all(maker, ["A-1", "A-2", "A-3", "B-1"])
    with maker() as s:
        rows = s.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
    # 刘洋 and 周建国: one email each for A-1..3 (周建国 also leads B-1: a second email
    # would be a second one of the day, so it is in his one email too); 孙丽: the single form
    assert sorted(r.recipient_name for r in rows) == ["刘洋", "周建国", "孙丽"]
    deliver_pending(maker, MailConfig(outbox_dir=tmp_path), day=DAY)
    sent = {str(m["To"]): text_of(m) for m in mails(tmp_path)}
    owner = next(t for to, t in sent.items() if "p3@" in to)
    assert "以下3项整改事项已于" in owner and "请使用本邮件中的验证码" in owner
    blocks = by_item(owner)
    assert set(blocks) == {"A-1", "A-2", "A-3"}
    plain = {code: CODE_RE.search(text).group(1) for code, text in blocks.items()}
    assert len(set(plain.values())) == 3
    assert all(f"{UI}/runs" in text for text in blocks.values())
    for code, value in plain.items():  # each item's own code, for its 销号申请
        consume(maker, "刘洋", code, "submit", value)
    leader = next(t for to, t in sent.items() if "p1@" in to)
    assert set(by_item(leader)) == {"A-1", "A-2", "A-3", "B-1"}
    single = next(t for to, t in sent.items() if "p4@" in to)
    assert "验证码：" in single and "以下1项整改事项已于" in single


def test_batched_assignment_is_not_repeated(sqlite_url, tmp_path):
    """The flow's first turn for a 长期坚持 item asks for its 交办 notice again (idempotent):
    the batch email counts, no second email, no new code voiding the first."""
    maker = session_factory(sqlite_url)
    ledger(maker)
    with maker.begin() as s:
        s.execute(Item.__table__.update().where(Item.code.in_(["A-1", "A-2"])).values(status=Status.ongoing))
    assign_all(maker, ["A-1", "A-2"])
    with maker() as s:
        before = s.scalar(select(OutboxMail.id).order_by(OutboxMail.id.desc()).limit(1))
    assert steps.assign_from_register(sqlite_url, "A-1", DAY, None) is None
    assign_all(maker, ["A-1", "A-2"])  # an intake started again
    with maker() as s:
        assert s.scalar(select(OutboxMail.id).order_by(OutboxMail.id.desc()).limit(1)) == before


def test_an_item_run_delivers_only_its_own_items_notices(sqlite_url, tmp_path):
    maker = session_factory(sqlite_url)
    ledger(maker)
    with maker.begin() as s:
        for code in ("A-1", "B-1"):
            steps.assign_in_session(s, code, DAY, "陈静")
    report = deliver_pending(maker, MailConfig(outbox_dir=tmp_path), day=DAY, sources=NOTICES, items=("B-1",))
    # 孙丽 about B-1, and 周建国's one 交办 email of the day (A-1's, extended with B-1)
    assert report.sent == 2
    with maker() as s:
        waiting = s.scalars(select(OutboxMail.recipient_name).where(OutboxMail.status == "pending")).all()
    assert sorted(waiting) == ["刘洋"]  # A-1's only: the sweep or the intake sends it
    assert deliver_pending(maker, MailConfig(outbox_dir=tmp_path), day=DAY, sources=NOTICES).sent == 1


def test_a_repaired_run_sends_the_new_link_and_a_fresh_code(sqlite_url, tmp_path, ui):
    maker = session_factory(sqlite_url)
    ledger(maker)
    with maker.begin() as s:
        steps.assign_in_session(s, "A-1", DAY, "陈静")
        steps.link_run(s, "A-1", "1c6e0f6a-0000-4000-8000-0000000000a1")
    deliver_pending(maker, MailConfig(outbox_dir=tmp_path), day=DAY)
    old = CODE_RE.search(text_of(mails(tmp_path)[0])).group(1)
    with maker.begin() as s:
        assert steps.relink_run(s, "A-1", "1c6e0f6a-0000-4000-8000-0000000000a1", NEW_RUN, DAY, "已被删除")
    deliver_pending(maker, MailConfig(outbox_dir=tmp_path), day=DAY)
    fresh = [text_of(m) for m in mails(tmp_path)[2:]]
    assert len(fresh) == 2 and all(f"{UI}/runs/flow-run/{NEW_RUN}" in t for t in fresh)
    assert all("流程运行已重建" in t for t in fresh)
    new = CODE_RE.search(next(t for t in fresh if "刘洋同志" in t)).group(1)
    with pytest.raises(RectifyError, match="最近一封邮件"):
        consume(maker, "刘洋", "A-1", "submit", old)
    consume(maker, "刘洋", "A-1", "submit", new)


def test_assignments_one_by_one_extend_the_persons_pending_email(db_url, tmp_path, ui):
    """`rectify assign` or the 交办 form of one item, twice for one owner on one day: the second
    extends the first email while it waits to be sent (one email, each item with its own code);
    a retried step adds nothing; once the email went, the next 交办 is an email of its own."""
    from ledger_helpers import dump

    maker = session_factory(db_url)
    ledger(maker)
    for code in ("A-1", "A-2"):  # two transactions, as two commands or two forms
        with maker.begin() as s:
            assert steps.assign_in_session(s, code, DAY, "陈静") is None
    with maker() as s:
        rows = s.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
        assert sorted(r.recipient_name for r in rows) == ["刘洋", "周建国"]
        assert all(r.key.startswith("batch:assigned:") and len(r.lines) == 2 for r in rows)
    before = dump(db_url)
    with maker.begin() as s:  # the second step retried: told already, no new code
        it = s.scalars(select(Item).where(Item.code == "A-2")).one()
        acting.queue_to_submitters(s, it, kind="assigned", day=DAY, key=f"assigned:A-2:{it.owner_id}")
    assert dump(db_url) == before
    deliver_pending(maker, MailConfig(outbox_dir=tmp_path), day=DAY, sources=NOTICES)
    sent = [(str(m["To"]), text_of(m)) for m in mails(tmp_path)]
    assert len(sent) == 2
    owner = next(t for to, t in sent if "p3@" in to)
    assert "以下2项整改事项已于" in owner
    plain = {code: CODE_RE.search(text).group(1) for code, text in by_item(owner).items()}
    assert set(plain) == {"A-1", "A-2"} and len(set(plain.values())) == 2
    for code, value in plain.items():
        consume(maker, "刘洋", code, "submit", value)
    with maker.begin() as s:  # the email went: a later 交办 of the day is an email of its own
        assert steps.assign_in_session(s, "A-3", DAY, "陈静") is None
    deliver_pending(maker, MailConfig(outbox_dir=tmp_path), day=DAY, sources=NOTICES)
    later = [text_of(m) for m in mails(tmp_path)[2:] if "p3@" in str(m["To"])]
    assert len(later) == 1 and set(by_item(later[0])) == {"A-3"}


def test_an_email_claimed_for_sending_is_not_extended(sqlite_url, tmp_path, ui):
    maker = session_factory(sqlite_url)
    ledger(maker)
    with maker.begin() as s:
        assert steps.assign_in_session(s, "A-1", DAY, "陈静") is None
    with maker.begin() as s:  # a delivery holds it (status sending, lease)
        s.execute(
            OutboxMail.__table__.update().values(status="sending", claimed_by="w1", claimed_at=utcnow())
        )
    with maker.begin() as s:
        assert steps.assign_in_session(s, "A-2", DAY, "陈静") is None
    with maker() as s:
        rows = s.scalars(
            select(OutboxMail).where(OutboxMail.recipient_name == "刘洋").order_by(OutboxMail.id)
        ).all()
        assert [len(r.lines) for r in rows] == [1, 1]


def test_rectify_assign_several_items_is_one_email_per_person(cli, tmp_path):
    from mail_codes import mails as eml

    from models.db import session_factory as sf

    maker = sf(cli.url)
    ledger(maker)
    out = cli("assign", "A-1", "A-2", "A-3", "--owner", "刘洋", "--today", DAY.isoformat()).stdout
    assert "A-1、A-2、A-3：已交办给刘洋" in out
    sent = [text_of(m) for m in eml(tmp_path / "outbox") if "p3@" in str(m["To"])]
    assert len(sent) == 1 and set(by_item(sent[0])) == {"A-1", "A-2", "A-3"}
    refused = cli("assign", "B-1", "X-9", "--owner", "孙丽", "--today", DAY.isoformat(), ok=False)
    assert refused.exit_code != 0 and "X-9" in refused.stderr  # all or nothing
    with maker() as s:
        assert s.scalars(select(Item).where(Item.code == "B-1")).one().status is Status.new

"""Each item of the daily digest carries the link to its run and the person's code for the
step the item waits for; links are bound when the email is sent (rectify.links)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from mail_codes import CODE_RE, LINK_RE, mails, text_of
from models import ActionCode, Item, OutboxMail, Person, Status
from models.db import session_factory
from notifications.smtp import MailConfig
from rectify import codes
from rectify.delivery import deliver_pending
from rectify.errors import RectifyError
from rectify.reminders import plan_reminders, record_reminders
from rectify.settings import Settings
from reminder_helpers import CAL, item, people

DAY = date(2026, 11, 30)
UI = "http://10.0.0.5:4200"
SETTINGS = Settings(_env_file=None, reporting="off", ui_url=UI)
RUN_A = "1c6e0f6a-0000-4000-8000-0000000000a1"
RUN_B = "1c6e0f6a-0000-4000-8000-0000000000b2"


def ledger(maker) -> None:
    """刘洋 owns two overdue items (one of them 待交办), 周建国 leads them; 陈静 is secretary."""
    with maker.begin() as s:
        p = people(s)
        item(s, "A-1", p["刘洋"], p["周建国"], date(2026, 11, 10))  # 14 working days overdue
        item(s, "A-2", p["刘洋"], p["周建国"], date(2026, 11, 12), status=Status.new)


def sweep(maker, settings=SETTINGS):
    with maker.begin() as s:
        plan = plan_reminders(s, DAY, CAL, settings)
        record_reminders(s, DAY, plan, settings)


def deliver(maker, tmp_path):
    report = deliver_pending(maker, MailConfig(outbox_dir=tmp_path), day=DAY)
    assert report.failed == 0
    return {str(m["To"]).split("<")[-1].rstrip(">"): text_of(m) for m in mails(tmp_path)}


def blocks(text: str) -> dict[str, str]:
    """Item code -> the text of that item's entry in a digest."""
    out, current = {}, None
    for line in text.splitlines():
        if "【A-" in line:
            current = line.split("【")[1].split("】")[0]
            out[current] = ""
        if current:
            out[current] += line + "\n"
    return out


def prove(maker, name: str, code: str, step: str, plain: str) -> None:
    with maker.begin() as s:
        person = s.scalars(select(Person).where(Person.name == name)).one()
        it = s.scalars(select(Item).where(Item.code == code)).one()
        codes.consume(s, person, it, step, plain)


def test_each_item_carries_its_link_and_the_persons_code(db_url, tmp_path):
    maker = session_factory(db_url)
    ledger(maker)
    sweep(maker)
    with maker.begin() as s:  # the runs exist (or are replaced) after the digest was written
        s.execute(Item.__table__.update().where(Item.code == "A-1").values(flow_run_id=RUN_A))
    with maker() as s:
        stored = s.scalars(select(OutboxMail.body_text)).all()
    assert all("[[run:" in t for t in stored if "A-1" in t)  # bound at send time
    sent = deliver(maker, tmp_path)
    owner = blocks(sent["p3@example.gov.cn"])
    # 整改中: the owner's 销号申请 code and the run's link
    assert LINK_RE.search(owner["A-1"]).group(1) == f"{UI}/runs/flow-run/{RUN_A}"
    assert "填写销号申请表单" in owner["A-1"]
    a1 = CODE_RE.search(owner["A-1"]).group(1)
    # 待交办: the owner cannot act; the link only (no run yet: the run list)
    assert CODE_RE.search(owner["A-2"]) is None and f"{UI}/runs\n" in owner["A-2"]
    assert "请使用本邮件中的验证码" in sent["p3@example.gov.cn"]
    # the secretary's digest (overdue >= 10): A-1 link only, nothing to sign; the leader's: a code
    secretary = blocks(sent["p0@example.gov.cn"])
    assert CODE_RE.search(secretary["A-1"]) is None and RUN_A in secretary["A-1"]
    leader = blocks(sent["p1@example.gov.cn"])
    assert CODE_RE.search(leader["A-1"])
    prove(maker, "刘洋", "A-1", "submit", a1)
    with pytest.raises(RectifyError):
        prove(maker, "刘洋", "A-1", "submit", a1)  # single use


def test_newest_email_wins_and_a_sweep_that_records_nothing_issues_nothing(db_url, tmp_path):
    maker = session_factory(db_url)
    ledger(maker)
    with maker.begin() as s:  # yesterday's 交办 email carried a code
        p = {x.name: x for x in s.scalars(select(Person))}
        old = codes.reveal_one(
            s,
            codes.issue(
                s, p["刘洋"], s.scalars(select(Item).where(Item.code == "A-1")).one(), "submit", ttl_days=14
            ),
        )
    with maker.begin() as s:  # two sweeps plan the same day; the second records nothing
        plan1 = plan_reminders(s, DAY, CAL, SETTINGS)
        plan2 = plan_reminders(s, DAY, CAL, SETTINGS)
        record_reminders(s, DAY, plan1, SETTINGS)
        live = s.scalar(select(ActionCode.id).order_by(ActionCode.id.desc()).limit(1))
        assert record_reminders(s, DAY, plan2, SETTINGS).mails == 0
        assert s.scalar(select(ActionCode.id).order_by(ActionCode.id.desc()).limit(1)) == live
    new = CODE_RE.search(blocks(deliver(maker, tmp_path)["p3@example.gov.cn"])["A-1"]).group(1)
    with pytest.raises(RectifyError, match="最近一封邮件"):
        prove(maker, "刘洋", "A-1", "submit", old)
    prove(maker, "刘洋", "A-1", "submit", new)


def test_secretary_gets_the_assign_code_for_an_item_waiting_for_her(sqlite_url, tmp_path):
    maker = session_factory(sqlite_url)
    ledger(maker)
    sweep(maker)
    sent = deliver(maker, tmp_path)
    a2 = blocks(sent["p0@example.gov.cn"])["A-2"]
    assert "填写交办表单" in a2
    prove(maker, "陈静", "A-2", "assign", CODE_RE.search(a2).group(1))


def test_without_ui_address_the_digest_says_where_to_act(sqlite_url, tmp_path):
    maker = session_factory(sqlite_url)
    ledger(maker)
    sweep(maker, Settings(_env_file=None, reporting="off"))
    owner = blocks(deliver(maker, tmp_path)["p3@example.gov.cn"])
    assert "流程界面中打开事项 A-1 的流程运行" in owner["A-1"] and CODE_RE.search(owner["A-1"])
    assert LINK_RE.search(owner["A-1"]) is None


def test_a_repaired_run_is_the_link_of_an_email_sent_after(sqlite_url, tmp_path):
    maker = session_factory(sqlite_url)
    ledger(maker)
    with maker.begin() as s:
        s.execute(Item.__table__.update().where(Item.code == "A-1").values(flow_run_id=RUN_A))
    sweep(maker)
    with maker.begin() as s:
        s.execute(Item.__table__.update().where(Item.code == "A-1").values(flow_run_id=RUN_B))
    owner = blocks(deliver(maker, tmp_path)["p3@example.gov.cn"])
    assert RUN_B in owner["A-1"] and RUN_A not in owner["A-1"]


def test_the_html_part_is_bound_too(sqlite_url, tmp_path):
    maker = session_factory(sqlite_url)
    ledger(maker)
    with maker.begin() as s:
        s.execute(Item.__table__.update().where(Item.code == "A-1").values(flow_run_id=RUN_A))
    sweep(maker)
    deliver(maker, tmp_path)
    for msg in mails(tmp_path):
        html = msg.get_body(("html",)).get_content()
        assert "[[run:" not in html and "[[run:" not in text_of(msg)
        if "p3@" in str(msg["To"]):
            assert f'href="{UI}/runs/flow-run/{RUN_A}"' in html and "验证码：<strong" in html

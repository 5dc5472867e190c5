import datetime as dt
import email
import email.policy
import sys

import pytest

from notifications.compose import KINDS, Recipient, build_message, render
from notifications.headers import HeaderInjectionError, check_header

SENDER = "整改台账 <rectify@localhost>"
EVIL = "张三\r\nBcc: x@evil"


def item(**over):
    base = dict(
        code="ZG-2021-007",
        description="会议室长期被占用<script>alert('x')</script>",
        department="办公室",
        owner="张三",
        leader="李四",
        deadline="2026-12-31",
        days_left=5,
        days_overdue=4,
        measures=[
            {"text": "清理会议室", "deadline": "2026-11-30"},
            {"text": "建立预约制度", "deadline": None},
        ],
    )
    return base | over


CTX = dict(
    recipient="张三",
    day=dt.date(2026, 12, 24),
    items=[item(), item(code="ZG-2021-001", deadline="2026-10-08", days_left=1, days_overdue=12)],
    reviewer="王秘书",
    comment="佐证材料不全",
    act={
        "code": "012345",
        "link": "http://10.0.0.5:4200/runs/flow-run/abc",
        "form": "销号申请",
        "item": "ZG-2021-007",
        "expires": dt.date(2027, 1, 7),
    },
    lead="事项 ZG-2021-007 已提交销号申请，请您审核。",
    submission={"actor": "李四", "day": dt.date(2026, 12, 23), "summary": "已清理", "evidence": ["a.pdf"]},
    tries=5,
    person="李四",
    item="ZG-2021-007",
    form="销号申请",
    failures=[
        {
            "recipient": "张三",
            "email": "zhangsan@example.org",
            "kind": "overdue_owner",
            "error": "服务器拒绝（550）",
        }
    ],
)


def build(**over):
    args = dict(
        sender=SENDER,
        to=[Recipient("张三", "zhangsan@example.org")],
        cc=[Recipient("李四", "lisi@example.org")],
        subject="【整改催办】2项整改事项将于5个工作日内到期",
        text="正文",
        html="<p>正文</p>",
        message_id="<reminder-123@rectify>",
    )
    return build_message(**(args | over))


def parse(msg):
    return email.message_from_bytes(msg.as_bytes(policy=email.policy.SMTP), policy=email.policy.default)


@pytest.mark.parametrize(
    "value", ["a\rb", "a\nb", "a\x00b", "a\x7fb", "a\x85b", "a\u2028b", "a\u2029b", "a\tb"]
)
def test_check_header_refuses_control_characters(value):
    with pytest.raises(HeaderInjectionError) as err:
        check_header(value, "主题")
    message = str(err.value)
    assert "主题" in message and "\n" not in message and "\r" not in message


def test_check_header_passes_ordinary_text():
    assert check_header("【整改催办】张三 <a@b.c>", "主题") == "【整改催办】张三 <a@b.c>"


@pytest.mark.parametrize(
    "over",
    [
        {"to": [Recipient(EVIL, "zhangsan@example.org")]},
        {"cc": [Recipient(EVIL, "lisi@example.org")]},
        {"to": [Recipient("张三", "zhangsan@example.org\r\nBcc: x@evil")]},
        {"subject": "催办\r\nBcc: x@evil"},
        {"sender": "整改台账 <rectify@localhost>\r\nBcc: x@evil"},
        {"message_id": "<a@b>\r\nBcc: x@evil"},
    ],
)
def test_build_message_refuses_header_injection(over):
    with pytest.raises(HeaderInjectionError) as err:
        build(**over)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", ["张三@例子.中国", "no-at-sign", "a@b@c", "a b@c"])
def test_build_message_refuses_unusable_address(bad):
    with pytest.raises(HeaderInjectionError):
        build(to=[Recipient("张三", bad)])


def test_chinese_headers_are_rfc2047_and_round_trip():
    msg = build()
    raw = msg.as_bytes(policy=email.policy.SMTP)
    assert raw.isascii()  # no SMTPUTF8/8BITMIME needed
    assert b"=?utf-8?" in raw
    back = parse(msg)
    assert back["Subject"] == "【整改催办】2项整改事项将于5个工作日内到期"
    assert back["From"].addresses[0].display_name == "整改台账"
    assert back["From"].addresses[0].addr_spec == "rectify@localhost"
    assert back["To"].addresses[0].display_name == "张三"
    assert back["Cc"].addresses[0].addr_spec == "lisi@example.org"
    assert back["Message-ID"] == "<reminder-123@rectify>"
    assert back["Date"] is not None
    assert back.get_body(("plain",)).get_content().rstrip("\n") == "正文"
    assert back.get_body(("html",)).get_content().rstrip("\n") == "<p>正文</p>"
    # CRLF everywhere: no bare LF on the wire
    assert raw.count(b"\n") == raw.count(b"\r\n")


def test_message_id_gets_brackets():
    assert build(message_id="reminder-9@rectify")["Message-ID"] == "<reminder-9@rectify>"


def test_html_is_autoescaped_text_is_verbatim():
    subject, text, html = render("due_soon", **CTX)
    assert "<script>alert('x')</script>" in text
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    msg = build(subject=subject, text=text, html=html)
    back = parse(msg)
    assert "<script>alert('x')</script>" in back.get_body(("plain",)).get_content()
    assert "<script>" not in back.get_body(("html",)).get_content()


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders(kind):
    subject, text, html = render(kind, **CTX)
    assert subject and "\n" not in subject
    assert "张三" in text and "<table" in html and "</html>" in html
    if kind != "delivery_failed":
        for needle in ("ZG-2021-007", "会议室长期被占用", "2026年12月31日", "清理会议室", "2026年11月30日"):
            assert needle in text and needle in html
    build(subject=subject, text=text, html=html)  # headers pass check_header


def test_due_soon_subject_counts_items_and_days():
    subject, _, _ = render("due_soon", **CTX)
    assert subject == "【整改催办】2项整改事项将于5个工作日内到期"


def test_overdue_digest_lists_oldest_deadline_first():
    _, text, html = render("overdue_owner", **CTX)
    assert text.index("ZG-2021-001") < text.index("ZG-2021-007")
    assert html.index("ZG-2021-001") < html.index("ZG-2021-007")
    assert "已逾期12个工作日" in text


def test_rejected_and_closed_carry_review():
    _, text, _ = render("rejected", **CTX)
    assert "王秘书" in text and "佐证材料不全" in text
    _, text, _ = render("closed", **CTX)
    assert "王秘书" in text


def test_delivery_failed_lists_failures():
    _, text, html = render("delivery_failed", **CTX)
    assert "zhangsan@example.org" in text and "逾期催办" in text and "550" in html


def test_missing_context_is_an_error():
    with pytest.raises(Exception):
        render("due_soon", recipient="张三", day=dt.date(2026, 1, 5))


def test_unknown_kind():
    with pytest.raises(ValueError):
        render("nope", **CTX)


def test_notifications_does_not_import_prefect():
    import subprocess

    code = "import notifications.compose, notifications.smtp, notifications.headers, sys; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_template_environment_is_built_once():
    """5,000 digests a sweep: compiling the templates per email would cost minutes."""
    from notifications.compose import environment

    assert environment() is environment()

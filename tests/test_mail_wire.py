"""The directly assembled message (notifications.wire.assemble) against the stdlib reference
(build_message(reference=True)): same headers and parts after parsing, cheap bytes reused."""

import email
import email.policy

import pytest

from notifications.compose import Recipient, build_message
from notifications.headers import HeaderInjectionError
from notifications.wire import WIRE_POLICY, WireMessage, wire_bytes, wire_payload

DATE = "Mon, 30 Nov 2026 08:00:00 +0800"
SENDER = "整改台账 <rectify@localhost>"


def both(**over):
    args = dict(
        sender=SENDER,
        to=[Recipient("张三", "zhangsan@example.org")],
        cc=[Recipient("李四", "lisi@example.org")],
        subject="【整改催办】2项整改事项将于5个工作日内到期",
        text="正文\n第二行 <b>原样</b>\r\n.以点开头\n",
        html="<p>正文 &lt;b&gt;</p>",
        message_id="<rectify.1.20261130@localhost>",
        date=DATE,
    )
    args |= over
    return build_message(**args), build_message(**args, reference=True)


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def same(fast, ref):
    a = parse(wire_bytes(fast))
    # WIRE_POLICY: what the project sent before (email.policy.SMTP itself mangles a folded
    # list of encoded names: it encodes the separating comma, see the 12-recipient case)
    b = parse(ref.as_bytes(policy=WIRE_POLICY))
    assert [(k, str(v)) for k, v in a.items()] == [(k, str(v)) for k, v in b.items()]
    for field in ("From", "To", "Cc"):
        if b[field] is not None:
            assert [(x.display_name, x.addr_spec) for x in a[field].addresses] == [
                (x.display_name, x.addr_spec) for x in b[field].addresses
            ]
    pa, pb = list(a.walk()), list(b.walk())
    assert [p.get_content_type() for p in pa] == [p.get_content_type() for p in pb]
    assert [list(p.items()) for p in pa] == [list(p.items()) for p in pb]
    for kind in ("plain", "html"):
        assert a.get_body((kind,)).get_content() == b.get_body((kind,)).get_content()
    return a


CASES = [
    {},
    {
        "subject": "ZG-2021-007 整改" + "很长的主题" * 30,
        "to": [Recipient("张三", f"u{i}@example.org") for i in range(12)],
    },
    {"to": [Recipient("欧阳" * 7 + "氏", "long@example.org")], "cc": []},  # 15 characters: one word
    {"to": [Recipient("Zhang San", "zs@example.org"), Recipient("", "bare@example.org")]},
    {"subject": "Plain ASCII subject", "text": "", "html": ""},
    {"subject": "混合 mixed 标题  两个空格", "to": [Recipient("王 五", "w5@mail.example.gov.cn")]},
    {"to": [Recipient("😀表情", "e@example.org")]},
]


@pytest.mark.parametrize("over", CASES)
def test_fast_path_matches_stdlib_reference(over):
    fast, ref = both(**over)
    assert isinstance(fast, WireMessage) and not isinstance(ref, WireMessage)
    back = same(fast, ref)
    raw = wire_bytes(fast)
    assert raw.isascii() and raw.count(b"\n") == raw.count(b"\r\n") and raw.endswith(b"--\r\n")
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    # exact round trip of what was asked for
    subject = over.get("subject", "【整改催办】2项整改事项将于5个工作日内到期")
    assert back["Subject"] == subject
    to = over.get("to", [Recipient("张三", "zhangsan@example.org")])
    assert [(x.display_name, x.addr_spec) for x in back["To"].addresses] == [(r.name, r.email) for r in to]
    # the EmailMessage API still works on the fast message, and serialises the same way
    assert str(fast["Subject"]) == subject
    assert parse(fast.as_bytes(policy=email.policy.SMTP)).items() == back.items()
    assert fast.as_bytes(policy=WIRE_POLICY) == raw


def test_common_case_is_byte_identical_to_the_stdlib():
    fast, ref = both()
    assert wire_bytes(fast) == ref.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize(
    "over",
    [
        {"to": [Recipient('Zhang, "San"', "zs@example.org")]},  # needs quoting
        {"to": [Recipient("张三", '"odd local"@example.org'.replace(" ", "_"))]},  # quoted local part
        {"subject": "Plain ASCII subject that is far too long to fit on one header line " * 2},
        {"subject": "looks like =?utf-8?q?an_encoded_word?="},
        {"to": [Recipient(" 张三", "zs@example.org")]},
        {"message_id": "<a b@c>"},
        # more than one encoded word: the stdlib parser would read it back with spaces
        {"to": [Recipient("欧阳" * 30, "long@example.org")]},
    ],
)
def test_unusual_values_take_the_stdlib_path(over):
    fast, ref = both(**over)
    assert not isinstance(fast, WireMessage)
    assert wire_bytes(fast) == ref.as_bytes(policy=WIRE_POLICY)


def test_resend_is_byte_identical_but_for_date():
    a = wire_bytes(build_message(**_args(date=DATE)))
    b = wire_bytes(build_message(**_args(date="Tue, 01 Dec 2026 09:30:00 +0800")))
    la, lb = a.split(b"\r\n"), b.split(b"\r\n")
    assert [x for x in la if not x.startswith(b"Date:")] == [x for x in lb if not x.startswith(b"Date:")]
    assert a != b


def _args(**over):
    return (
        dict(
            sender=SENDER,
            to=[Recipient("张三", "zs@example.org")],
            subject="催办",
            text="正文",
            html="<p>正文</p>",
            message_id="<m@rectify>",
        )
        | over
    )


def test_changes_after_building_are_not_lost():
    msg = build_message(**_args())
    assert wire_payload(msg)[0] == ["zs@example.org"]
    msg.replace_header("Subject", "改过的主题")
    msg["Cc"] = "李四 <ls@example.org>"
    rcpts, raw = wire_payload(msg)
    back = parse(raw[:-3])
    assert back["Subject"] == "改过的主题" and rcpts == ["zs@example.org", "ls@example.org"]
    msg2 = build_message(**_args())
    msg2.get_payload()[0].set_payload("Y2hhbmdlZA==\n")
    assert b"Y2hhbmdlZA==" in wire_bytes(msg2)


@pytest.mark.parametrize(
    "over",
    [
        {"to": [Recipient("张三\r\nBcc: x@evil", "zs@example.org")]},
        {"subject": "催办\u2028Bcc: x@evil"},
        {"date": "Mon, 30 Nov 2026\r\nBcc: x@evil"},
        {"to": [Recipient("张三", "zs@example.org>, x@evil")]},
    ],
)
def test_injection_is_refused_on_both_paths(over):
    for reference in (False, True):
        with pytest.raises(HeaderInjectionError):
            build_message(**_args(**over), reference=reference)

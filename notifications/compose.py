"""Render reminder e-mails from templates and assemble them as MIME messages.

Each kind of e-mail is a folder `templates/<kind>/` holding `subject.txt`, `body.txt` and
`body.html`. Only the .html templates are autoescaped: the text part must show an item's
description verbatim, the HTML part must show it as text, never as markup.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notifications.cn import KIND_LABELS, cn_date
from notifications.headers import HeaderInjectionError, check_header
from notifications.wire import assemble

KINDS = (
    "due_soon",
    "due_today",
    "overdue_owner",
    "overdue_leader",
    "overdue_secretary",
    "assigned",
    "rejected",
    "closed",
    "delivery_failed",
    "act_request",
    "code_reissued",
    "code_voided",
)


@dataclass
class Recipient:
    name: str
    email: str


def _light_label(light: str | None) -> str:
    from rectify.measures import LIGHT_LABELS

    return LIGHT_LABELS.get(light, "")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("notifications", "templates"),
        # select_autoescape(["html"]) leaves .txt unescaped: subject and text part stay verbatim.
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Package data does not change while the process runs: without this every
        # get_template stats the file again (a large sweep renders tens of thousands).
        auto_reload=False,
    )
    env.filters["cn_date"] = cn_date  # the one copy: notifications.cn
    env.filters["kind_label"] = lambda kind: KIND_LABELS.get(kind, kind)
    env.filters["light_label"] = _light_label
    return env


def render(kind: str, **ctx) -> tuple[str, str, str]:
    """Return (subject, text, html) for one e-mail kind; the subject is a single line."""
    if kind not in KINDS:
        raise ValueError(f"未知的邮件类型：{kind!r}")
    env = environment()
    subject = env.get_template(f"{kind}/subject.txt").render(**ctx)
    # Newlines from the template (or a value) become spaces, never a header break.
    subject = " ".join(part.strip() for part in subject.splitlines() if part.strip())
    text = env.get_template(f"{kind}/body.txt").render(**ctx)
    html = env.get_template(f"{kind}/body.html").render(**ctx)
    return subject, text, html


@lru_cache(maxsize=16)
def _parse_sender(sender: str) -> tuple[str, str]:
    return parseaddr(sender)  # the same sender for every message of a batch


def _check_address(name: str, email: str, field: str) -> None:
    check_header(name, f"{field}（姓名）")
    if "=?" in name:  # an encoded word in a name: a mail program would show another name
        raise HeaderInjectionError(f"邮件头“{field}（姓名）”含有邮件编码字样，已拒绝：{name!r}")
    check_header(email, f"{field}（地址）")
    # Without SMTPUTF8 only an ASCII address can be sent; the name may be anything (RFC 2047).
    if not email.isascii() or email.count("@") != 1 or " " in email:
        raise HeaderInjectionError(f"邮件头“{field}”的地址无效：{email!r}")


def _address(name: str, email: str, field: str) -> Address:
    try:
        return Address(display_name=name, addr_spec=email)
    except (ValueError, IndexError) as exc:
        raise HeaderInjectionError(f"邮件头“{field}”的地址无效：{email!r}") from exc


def build_message(
    *,
    sender: str,
    to: list[Recipient],
    cc: list[Recipient] = (),
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: str | None = None,
    reference: bool = False,
) -> EmailMessage:
    """Assemble a text+HTML message; every header value is checked before it is set.

    The common case is written directly by notifications.wire.assemble (no header registry);
    `reference=True`, or anything assemble does not handle, builds it with the stdlib's
    EmailMessage API instead. Both give the same headers and parts. `date` (RFC 5322 text)
    defaults to now.
    """
    if not to:
        raise ValueError("邮件至少需要一个收件人")
    check_header(sender, "发件人")
    sender_name, sender_addr = _parse_sender(sender)
    check_header(subject, "主题")
    check_header(message_id, "Message-ID")
    if not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    _check_address(sender_name, sender_addr, "发件人")
    for r in to:
        _check_address(r.name, r.email, "收件人")
    for r in cc:
        _check_address(r.name, r.email, "抄送")
    if date is None:
        date = formatdate(localtime=True)
    else:
        check_header(date, "Date")
    # A boundary derived from the Message-ID: a re-send is byte-identical but for Date, and
    # serialising skips the generator's per-message boundary search. "_" and "." never
    # occur in base64 lines or in the part headers, so the boundary cannot collide.
    boundary = f"=_rectify.{hashlib.sha256(message_id.encode()).hexdigest()[:16]}"
    if not reference:
        msg = assemble(
            sender=(sender_name, sender_addr),
            to=to,
            cc=cc,
            subject=subject,
            text=text,
            html=html,
            message_id=message_id,
            date=date,
            boundary=boundary,
        )
        if msg is not None:
            return msg

    msg = EmailMessage()  # default policy: non-ASCII headers are RFC 2047 encoded
    msg["Subject"] = subject
    msg["From"] = _address(sender_name, sender_addr, "发件人")
    msg["To"] = [_address(r.name, r.email, "收件人") for r in to]
    if cc:
        msg["Cc"] = [_address(r.name, r.email, "抄送") for r in cc]
    msg["Date"] = date
    msg["Message-ID"] = message_id
    # base64 keeps the whole message 7-bit, so no 8BITMIME is needed from the server.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    msg.make_alternative(boundary=boundary)
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    return msg

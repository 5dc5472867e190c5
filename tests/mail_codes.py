"""Read what a person would read: the link and the 验证码 in the .eml files of the outbox."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

CODE_RE = re.compile(r"验证码：(\d{6})")
LINK_RE = re.compile(r"(https?://[^\s，。]+/runs/flow-run/[0-9a-f-]{36})")


def mails(outbox: Path) -> list:
    """Every delivered message, oldest first (the file name carries the outbox row id)."""
    paths = sorted(outbox.glob("*.eml"), key=lambda p: int(p.stem.split("-")[1]))
    return [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in paths]


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def item_block(text: str, item: str) -> str:
    """The part of an email about one item (【ZG-…】 to the next numbered item): an email that
    lists several items (a digest, the intake's 交办) carries one link and code per item."""
    start = text.find(f"【{item}】")
    if start < 0:
        return ""
    end = re.search(r"\n\d+\. 【", text[start:])
    return text[start : start + end.start()] if end else text[start:]


def latest_act(outbox: Path, email: str, form: str, item: str | None = None) -> tuple[str, str | None, str]:
    """(code, link, text) of the newest email to `email` that asks for `form` (e.g. 销号申请);
    with `item`, the code and link given for that item (in an email listing several)."""
    for msg in reversed(mails(outbox)):
        text = text_of(msg)
        if item is not None and f"【{item}】" in text and CODE_RE.search(item_block(text, item)):
            text = item_block(text, item)
        if email in str(msg["To"]) and f"填写{form}表单" in text and CODE_RE.search(text):
            link = LINK_RE.search(text)
            return CODE_RE.search(text).group(1), link.group(1) if link else None, text
    raise AssertionError(f"没有发给 {email} 的{form}验证码邮件")


def mailed_codes(smtp) -> dict[tuple[str, str], str]:
    """(item code, recipient) -> the 验证码 (an in-process SMTP server's RecordingHandler) of the newest email asking for the 销号申请 form
    (a person's 交办 email lists all of their items, each with its own code)."""
    codes: dict[tuple[str, str], str] = {}
    for m in smtp.messages:
        msg = BytesParser(policy=policy.default).parsebytes(m.content)
        text = msg.get_body(("plain",)).get_content()
        for item in sorted(set(re.findall(r"PG-\d{5}", text))):
            block = item_block(text, item) or text
            found = CODE_RE.search(block)
            if found and "填写销号申请表单" in block:
                for rcpt in m.rcpt_tos:
                    codes[item, rcpt] = found.group(1)
    return codes


def confirm_code(smtp) -> tuple[str, str] | None:
    """(secretary's name, code) of a 【交办确认】 email, None until one arrived."""
    from demo.register import PEOPLE

    names = {row[3]: row[0] for row in PEOPLE}
    for m in smtp.messages:
        msg = BytesParser(policy=policy.default).parsebytes(m.content)
        text = msg.get_body(("plain",)).get_content()
        found = CODE_RE.search(text)
        if found and "交办确认" in text and m.rcpt_tos[0] in names:
            return names[m.rcpt_tos[0]], found.group(1)
    return None

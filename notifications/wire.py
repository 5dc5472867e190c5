"""Message bytes as they go on the wire: CRLF, dot-stuffed, cheap to produce."""

from __future__ import annotations

import email.policy
import re
from email.header import Header
from email.headerregistry import AddressHeader, UnstructuredHeader
from email.message import EmailMessage
from email.utils import formataddr

_LEADING_DOT = re.compile(rb"(?m)^\.")


class _WirePolicy(email.policy.EmailPolicy):
    """email.policy.SMTP, minus most of the cost of as_bytes().

    The stdlib re-parses and refolds every header on output, which took more time than the
    SMTP round trips. Our headers are simple, so they are written directly:
    short ASCII values as they are, a non-ASCII subject as RFC 2047 words (email.header),
    address lists via formataddr, folded between addresses. Anything unusual (line breaks,
    groups, an overlong name) takes the stdlib path. The test suite checks both agree.
    """

    def _fold(self, name, value, refold_binary=False):
        text, nl, limit = str(value), self.linesep, self.max_line_length
        if "\r" in text or "\n" in text:
            return super()._fold(name, value, refold_binary)
        if text.isascii():
            if len(name) + len(text) + 2 <= limit:
                return f"{name}: {text}{nl}"
        elif isinstance(value, UnstructuredHeader):
            return f"{name}: {Header(text, 'utf-8', header_name=name).encode(linesep=nl)}{nl}"
        elif isinstance(value, AddressHeader) and all(g.display_name is None for g in value.groups):
            parts = [formataddr((a.display_name, a.addr_spec), "utf-8") for a in value.addresses]
            if parts and max(map(len, parts)) <= limit - len(name) - 3:
                lines = [f"{name}: {parts[0]}"]
                for part in parts[1:]:
                    if len(lines[-1]) + len(part) + 2 <= limit:
                        lines[-1] += f", {part}"
                    else:
                        lines[-1] += ","
                        lines.append(f" {part}")
                return nl.join(lines) + nl
        return super()._fold(name, value, refold_binary)


WIRE_POLICY = _WirePolicy(linesep="\r\n")  # same settings as email.policy.SMTP


def wire_payload(message: EmailMessage) -> tuple[list[str], bytes]:
    """Envelope recipients (To + Cc) and the dot-stuffed DATA payload, ending in CRLF.CRLF."""
    rcpts = [a.addr_spec for field in ("To", "Cc") if (h := message[field]) for a in h.addresses]
    if not rcpts:
        raise ValueError("邮件没有收件人")
    raw = message.as_bytes(policy=WIRE_POLICY)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    if b"\n." in raw or raw.startswith(b"."):
        raw = _LEADING_DOT.sub(b"..", raw)
    return rcpts, raw + b".\r\n"

"""Message bytes as they go on the wire: CRLF, dot-stuffed, cheap to produce."""

from __future__ import annotations

import base64
import email.policy
import re
from binascii import b2a_base64
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


def wire_bytes(message: EmailMessage) -> bytes:
    """The whole message as it goes on the wire (CRLF lines), not dot-stuffed."""
    prebuilt = message.prebuilt() if isinstance(message, WireMessage) else None
    return prebuilt[1] if prebuilt else message.as_bytes(policy=WIRE_POLICY)


def wire_payload(message: EmailMessage) -> tuple[list[str], bytes]:
    """Envelope recipients (To + Cc) and the dot-stuffed DATA payload, ending in CRLF.CRLF."""
    prebuilt = message.prebuilt() if isinstance(message, WireMessage) else None
    if prebuilt:
        rcpts, raw = prebuilt
    else:
        rcpts = [a.addr_spec for field in ("To", "Cc") if (h := message[field]) for a in h.addresses]
        raw = message.as_bytes(policy=WIRE_POLICY)
    if not rcpts:
        raise ValueError("邮件没有收件人")
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    if b"\n." in raw or raw.startswith(b"."):
        raw = _LEADING_DOT.sub(b"..", raw)
    return rcpts, raw + b".\r\n"


# --- direct assembly -----------------------------------------------------------------------
#
# build_message's common case (ASCII addresses, any display names and subject) is written
# straight to bytes here, without EmailMessage's header registry: that parser/folder cost about
# 4 ms a message, this costs a few dozen microseconds. The result is still an EmailMessage
# (headers stored pre-encoded with set_raw, exactly as a parsed message holds them, and parsed
# only when read), and it carries the bytes it was built from. Anything unusual returns None
# and compose.build_message takes the stdlib path, which stays the reference: the tests check
# that both parse to the same headers and parts.

_LIMIT = 78  # email.policy.SMTP.max_line_length
_EW_BYTES = 42  # UTF-8 bytes per encoded word: "=?utf-8?b?" + 56 base64 chars + "?=" = 68
# A dot-atom address (RFC 5322 3.4.1) with a hostname domain; quoted local parts, IP literals
# and the like go the stdlib way.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ADDR = re.compile(
    rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
# An ASCII display name that needs neither quoting nor encoding: atoms separated by one space.
_PLAIN_NAME = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")
_PLAIN_MSGID = re.compile(r"<[!-;=?-~]+>")  # printable ASCII, no "<", ">" or space inside


def _encoded_words(text: str, max_bytes: int = _EW_BYTES) -> list[str] | None:
    """RFC 2047 "B" words of at most max_bytes UTF-8 bytes each, split between characters."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: let the stdlib decide
        return None
    words, start, size = [], 0, len(data)
    while start < size:
        end = min(start + max_bytes, size)
        while end < size and data[end] & 0xC0 == 0x80:  # never cut a character in two
            end -= 1
        words.append("=?utf-8?b?" + b2a_base64(data[start:end], newline=False).decode("ascii") + "?=")
        start = end
    return words


def _fold_tokens(name: str, tokens: list[str]) -> str | None:
    """`name: tok tok...` folded before a token when the line would pass 78 characters."""
    lines, line = [], f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) <= _LIMIT:
            line += " " + token
        elif len(token) + 1 > _LIMIT or line.endswith(":"):
            return None  # a token that fits no line
        else:
            lines.append(line)
            line = " " + token
    lines.append(line)
    return "\r\n".join(lines)


def _mailbox_tokens(display_name: str, addr: str) -> list[str] | None:
    if not _SIMPLE_ADDR.fullmatch(addr):
        return None
    if not display_name:
        return [addr]  # what the stdlib writes for an address without a name
    if display_name.isascii():
        if not _PLAIN_NAME.fullmatch(display_name) or "=?" in display_name:
            return None  # quoting rules: stdlib
        return display_name.split(" ") + [f"<{addr}>"]
    if display_name != display_name.strip():
        return None
    # One encoded word (at most 45 bytes: 72 characters, RFC 2047's limit is 75): the stdlib
    # parser puts a space between adjacent encoded words of a phrase, so a longer name would
    # not read back as it was written. Such names go the stdlib way (it has the same limit).
    words = _encoded_words(display_name, 45)
    return None if words is None or len(words) != 1 else words + [f"<{addr}>"]


def _address_field(name: str, mailboxes) -> str | None:
    tokens: list[str] = []
    for display_name, addr in mailboxes:
        mine = _mailbox_tokens(display_name, addr)
        if mine is None:
            return None
        if tokens:
            tokens[-1] += ","
        whole = " ".join(mine)
        tokens += [whole] if len(whole) < _LIMIT - 1 else mine  # fold between mailboxes first
    return _fold_tokens(name, tokens)


def _unstructured_field(name: str, text: str) -> str | None:
    if text.isascii():
        line = f"{name}: {text}"
        if len(line) > _LIMIT or "=?" in text or text != text.strip() or "  " in text:
            return None  # needs folding or protecting: stdlib
        return line
    if text != text.strip():
        return None
    words = _encoded_words(text)
    return None if words is None else _fold_tokens(name, words)


def _text_part(content_type: str, text: str, mime_version: bool) -> tuple[str, bytes]:
    # As email.contentmanager.set_text_content(cte="base64") does it: lines joined with "\n"
    # plus a final "\n", base64 in 76-character lines (57 bytes; base64.encodebytes' size).
    data = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    body = base64.encodebytes(data).decode("ascii")
    head = f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n'
    if mime_version:  # the stdlib's add_alternative leaves one on the second part
        head += "MIME-Version: 1.0\r\n"
    return body, (head + "\r\n" + body.replace("\n", "\r\n")).encode("ascii")


def _state(msg: EmailMessage) -> tuple:
    """Everything the generator would write: headers as stored, payloads, parts (recursively)."""
    payload = msg.get_payload()
    if isinstance(payload, list):
        payload = tuple((part, _state(part)) for part in payload)
    return (tuple(msg.raw_items()), payload, msg.preamble, msg.epilogue)


class WireMessage(EmailMessage):
    """An EmailMessage that also holds its own wire bytes (CRLF lines, not dot-stuffed).

    The bytes are used only while the message is unchanged since it was built: any change
    made through the EmailMessage API (headers, payload, parts, preamble) shows in _state()
    and sends serialisation back to the generator.
    """

    _prebuilt: tuple | None = None

    def prebuilt(self) -> tuple[list[str], bytes] | None:
        """(envelope recipients, wire bytes) when still valid, else None."""
        if self._prebuilt is None:
            return None
        state, rcpts, raw = self._prebuilt
        if state != _state(self):
            self._prebuilt = None
            return None
        return list(rcpts), raw


def assemble(
    *,
    sender: tuple[str, str],
    to,
    cc,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: str,
    boundary: str,
) -> WireMessage | None:
    """The message build_message describes, built directly; None if it needs the stdlib.

    Every value must already have passed check_header (build_message does that first).
    """
    fields = [
        ("Subject", _unstructured_field("Subject", subject)),
        ("From", _address_field("From", [sender])),
        ("To", _address_field("To", [(r.name, r.email) for r in to])),
    ]
    if cc:
        fields.append(("Cc", _address_field("Cc", [(r.name, r.email) for r in cc])))
    if not _PLAIN_MSGID.fullmatch(message_id) or len(message_id) > _LIMIT - 12:
        return None
    if not date.isascii() or len(date) > _LIMIT - 6:
        return None
    fields += [
        ("Date", f"Date: {date}"),
        ("Message-ID", f"Message-ID: {message_id}"),
        ("MIME-Version", "MIME-Version: 1.0"),
        ("Content-Type", f'Content-Type: multipart/alternative; boundary="{boundary}"'),
    ]
    if any(line is None for _, line in fields):
        return None
    text_body, text_bytes = _text_part("text/plain", text, False)
    html_body, html_bytes = _text_part("text/html", html, True)
    delimiter = f"\r\n--{boundary}".encode("ascii")
    head = "\r\n".join(line for _, line in fields).encode("ascii")
    raw = b"".join(
        (
            head,
            b"\r\n\r\n--",
            boundary.encode("ascii"),
            b"\r\n",
            text_bytes,
            delimiter,
            b"\r\n",
            html_bytes,
            delimiter,
            b"--\r\n",
        )
    )

    msg = WireMessage()
    for field, line in fields:
        # The stored value is the folded text after "Name: ", as a parser would keep it.
        msg.set_raw(field, line[len(field) + 2 :])
    parts = []
    for content_type, body, mime_version in (
        ("text/plain", text_body, False),
        ("text/html", html_body, True),
    ):
        part = EmailMessage()
        part.set_raw("Content-Type", f'{content_type}; charset="utf-8"')
        part.set_raw("Content-Transfer-Encoding", "base64")
        if mime_version:
            part.set_raw("MIME-Version", "1.0")
        part.set_payload(body)
        parts.append(part)
    msg.set_payload(parts)
    rcpts = tuple(r.email for r in to) + tuple(r.email for r in cc)
    msg._prebuilt = (_state(msg), rcpts, raw)
    return msg

"""Header-injection guard for every value that ends up in a mail header."""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators: any of them can
# end a header line in some parser along the way, so none may appear in a header value.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class HeaderInjectionError(ValueError):
    """A header value contained a control character."""


def check_header(value: str, field: str) -> str:
    """Return `value` unchanged, or raise HeaderInjectionError naming `field`."""
    if not isinstance(value, str):
        raise HeaderInjectionError(f"邮件头“{field}”必须是文本，收到 {type(value).__name__}")
    match = _FORBIDDEN.search(value)
    if match:
        # repr() keeps the message on one line even when the value carries CR/LF.
        raise HeaderInjectionError(f"邮件头“{field}”含有控制字符 {match.group()!r}，已拒绝：{value!r}")
    return value

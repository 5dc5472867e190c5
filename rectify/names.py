"""Person names as the ledger keeps them: one written form per person.

A name is matched by its text (assignments, --as, reminders), shown in the Prefect UI and
written into mail headers, so two spellings that look the same must be one text, and nothing
invisible or header-like may hide in it:

* NFKC: full-width letters and compatibility forms become their plain form (``ＡＢ`` → ``AB``);
* format characters (Unicode Cf: U+200B zero-width space, U+202E right-to-left override,
  U+FEFF …) are refused: ``秘书甲\u200b`` would otherwise be a second secretary who looks like
  the first, and an override reverses what the UI shows;
* an RFC 2047 encoded word (``=?utf-8?b?…?=``) is refused: a mail program decodes it and shows
  whatever name the writer chose.
"""

from __future__ import annotations

import re
import unicodedata

_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?")


def normalise_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip()


def name_problem(name: str) -> str | None:
    """Why `name` (already normalised) cannot be a person's name, or None."""
    for ch in name:
        if unicodedata.category(ch) == "Cf":
            return f"含有不可见的格式字符 U+{ord(ch):04X}"
    if _ENCODED_WORD.search(name):
        return "含有邮件编码字样（=?…?=），邮件程序会将其显示为另一个名字"
    return None

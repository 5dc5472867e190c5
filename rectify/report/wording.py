"""How the report writes dates, numbers and the issuing office: one place for each rule.

Every date a person reads is 2026年11月30日, including dates the office typed inside its own
wording ("（2026/11/20）", "2026.11.20", "2026-11-20"): a 公文 never mixes forms. The issuing
body, the addressee (主送机关) and the title come from settings (RECTIFY_ORG_NAME,
RECTIFY_REPORT_TO, RECTIFY_REPORT_TITLE); the defaults are the customary placeholders an office
replaces with its own names.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

DEFAULT_ORG_NAME = "中共××局党组"
DEFAULT_REPORT_TO = "中共××区委"
TITLE_SUBJECT = "关于问题整改工作进展情况的报告"

CN_DIGITS = "零一二三四五六七八九"
CN_UNITS = ("", "十", "百", "千")

# 2026-11-20, 2026/11/20, 2026.11.20 (also full-width separators), not inside a longer number.
_NUMERIC_DATE = re.compile(r"(?<![\d.])(\d{4})\s*[-/.．／－]\s*(\d{1,2})\s*[-/.．／－]\s*(\d{1,2})(?![\d.])")
# 2026年01月05日 -> 2026年1月5日
_PADDED_DATE = re.compile(r"(\d{4})年0?(\d{1,2})月0?(\d{1,2})日")


def cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def cn_dates(text: str | None) -> str:
    """Rewrite every numeric date inside free text as 2026年11月20日; anything that is not a
    real calendar day (a version number 2026.13.40) stays as written."""
    if not text:
        return text or ""

    def one(m: re.Match) -> str:
        try:
            return cn_date(date(int(m[1]), int(m[2]), int(m[3])))
        except ValueError:
            return m[0]

    return _PADDED_DATE.sub(lambda m: f"{m[1]}年{int(m[2])}月{int(m[3])}日", _NUMERIC_DATE.sub(one, text))


def cn_number(n: int) -> str:
    """1 -> 一, 10 -> 十, 110 -> 一百一十, 1010 -> 一千零一十, for （一）（二） headings and 一是/二是:
    a report may well have a hundred leader groups. From 10,000 on, Arabic digits."""
    if not 0 < n < 10_000:
        return str(n)
    digits = str(n)
    out, gap = "", False
    for pos, d in zip(range(len(digits) - 1, -1, -1), digits):
        if d == "0":
            gap = bool(out)  # one 零 for any run of zeros inside the number, none at its end
            continue
        out += ("零" if gap else "") + CN_DIGITS[int(d)] + CN_UNITS[pos]
        gap = False
    return out[1:] if out.startswith("一十") else out  # 十一, not 一十一


def comrade(name: str) -> str:
    """吴海燕 -> 吴海燕同志; a placeholder such as 未明确责任领导 stays as it is."""
    return name if name.startswith("未") else f"{name}同志"


@dataclass(frozen=True)
class Office:
    """Who sends the report to whom, and the day it is dated (成文日期)."""

    org_name: str = DEFAULT_ORG_NAME
    report_to: str = DEFAULT_REPORT_TO
    title: str = ""
    dated: date | None = None

    @property
    def report_title(self) -> str:
        return self.title or f"{self.org_name}{TITLE_SUBJECT}"


def office_of(settings, dated: date | None = None) -> Office:
    return Office(
        org_name=(settings.org_name or DEFAULT_ORG_NAME).strip(),
        report_to=(settings.report_to or DEFAULT_REPORT_TO).strip(),
        title=(settings.report_title or "").strip(),
        dated=dated,
    )


def percent(rate: float | None) -> str:
    """88% or 91.7%: one decimal only when it says something. Rounding never says 100% while
    an item is open (9,999 of 10,000 is 99.9%), nor 0% once one is closed."""
    if rate is None:
        return "—"
    tenths = math.floor(rate * 1000 + 0.5)  # half up, not Python's half to even
    if 0 < rate < 1:
        tenths = min(max(tenths, 1), 999)
    text = f"{tenths // 10}.{tenths % 10}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def is_relative_deadline(text: str) -> bool:
    """N个工作日内, 立行立改, 12月底前, 年底前: their date depends on the register's date.
    Every absolute phrase (a date, 2026年12月底前, 2026年底前) names its year."""
    s = unicodedata.normalize("NFKC", text or "")
    return bool(s.strip()) and s.strip() not in ("长期坚持", "长期") and not _YEAR.search(s)


_YEAR = re.compile(r"\d{4}")

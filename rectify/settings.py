"""Settings from environment variables (prefix RECTIFY_) and an optional `.env` file.

The embedded default needs no settings at all: a SQLite ledger, `.eml` files in an outbox
folder instead of SMTP and the reports, all in one data folder: RECTIFY_HOME, by default the
working directory. The defaults are made absolute under it when the settings are read, so the
command line, `rectify serve` and a flow run started elsewhere agree on one ledger whichever
folder each process starts in. A path or URL set explicitly is kept as given.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rectify.errors import RectifyError

if TYPE_CHECKING:
    from rectify.settings_model import Settings


LEDGER_FILE = "rectify.db"


class SettingFields:
    """Each setting's name (RECTIFY_<NAME>), type and default, once, in plain Python: the
    pydantic model (rectify.settings_model.Settings) is built on this class, and `rectify list`
    and `show` read the same fields without loading pydantic (rectify.cli.lean_args)."""

    # Data folder for the default ledger, outbox and reports (RECTIFY_HOME); None: the working
    # directory at the time the settings are read.
    home: Path | None = None

    # Ledger
    database_url: str = f"sqlite:///{LEDGER_FILE}"

    # Acting person for the command line (RECTIFY_USER); --as overrides it.
    user: str | None = None

    # Calendar
    timezone: str = "Asia/Shanghai"
    # RECTIFY_TODAY: the office's "today" for a rehearsal or demo ledger (make demo plays a
    # Monday in late 2026). Unset in real use: today is the date in `timezone`.
    today: date | None = None
    immediate_working_days: int = 5  # 立行立改
    calendar_override: Path | None = None  # JSON/CSV file with holidays and 调休 working days

    # Reminder ladder (working days)
    remind_before_days: tuple[int, ...] = (5, 1)
    escalate_leader_after_days: int = 3
    escalate_secretary_after_days: int = 10
    stalled_after_days: int = 30  # no progress for this many calendar days = stalled
    # Lights (亮灯): an unfinished measure due within this many working days is yellow (黄灯);
    # unset: the first rung of the ladder, max(remind_before_days).
    light_yellow_days: int | None = None

    # 定期报送 (rectify.periods): monthly:5 = by the 5th of each month, weekly:5 = by Friday,
    # quarterly:5 = by the 5th of Jan/Apr/Jul/Oct, off = none (an item's 汇报频次 still applies).
    reporting: str = "monthly:5"
    # 回头看: the default 复核日期 is this many months after the approval.
    recheck_months: int = 3

    # Mail
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str = "none"  # none | starttls | tls
    smtp_username: str | None = None
    # smtp_password (a pydantic SecretStr): declared in rectify.settings_model.Settings
    smtp_timeout: float = 30.0
    smtp_validate_certs: bool = True
    smtp_ca_file: Path | None = None  # an internal CA to trust besides the system ones
    smtp_connections: int = 3
    mail_from: str = "整改台账 <rectify@localhost>"
    outbox_dir: Path = Path("outbox")
    email_block: str | None = None  # name of a prefect-email EmailServerCredentials block

    # Proof of person (验证码) and acting from the email
    code_ttl_days: int = 14  # RECTIFY_CODE_TTL_DAYS: how long an emailed code stays valid
    leader_signoff: bool = True  # RECTIFY_LEADER_SIGNOFF: the leader signs off before 销号审核
    ui_url: str | None = None  # RECTIFY_UI_URL: the Prefect UI the emails link to

    # Reports
    report_dir: Path = Path("reports")
    # The 报告 as a 公文 (GB/T 9704): issuing body (发文机关, also the 落款), addressee (主送机关),
    # and the title; empty title = "{org_name}关于问题整改工作进展情况的报告".
    org_name: str = "中共××局党组"
    report_to: str = "中共××区委"
    report_title: str = ""

    # Prefect API (tasks/prefect_api.py): how long a call keeps retrying 503/429/timeouts/refused
    # connections, and how many item runs are created at once.
    api_patience_seconds: float = 120.0
    run_create_concurrency: int = 8
    # `rectify serve`: at most this many flow runs execute at once (a burst of resumes queues)
    serve_limit: int = 4


def home_paths(home: Path | None, explicit: Collection[str]) -> dict[str, Any]:
    """RECTIFY_HOME's rule: the default ledger, outbox and reports under one absolute data
    folder (the working directory when unset); a path or URL set explicitly is kept."""
    home = (home or Path.cwd()).expanduser().absolute()
    out: dict[str, Any] = {"home": home}
    if "database_url" not in explicit:
        out["database_url"] = f"sqlite:///{home / LEDGER_FILE}"
    if "outbox_dir" not in explicit:
        out["outbox_dir"] = home / "outbox"
    if "report_dir" not in explicit:
        out["report_dir"] = home / "reports"
    return out


def __getattr__(name: str):
    if name == "Settings":  # the pydantic model, loaded on first use
        from rectify.settings_model import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SettingsError(RectifyError):
    """A RECTIFY_* variable (or .env line) that cannot be read: one line naming it."""


_EXPECTED = {
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "int_from_float": "应为整数",
    "tuple_type": "应为逗号分隔的列表",
}


@lru_cache
def get_settings() -> Settings:
    from pydantic import ValidationError

    from rectify.settings_model import Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        value = first.get("input")
        shown = "" if isinstance(value, dict) else f"“{value}”"  # never a whole settings dump
        raise SettingsError(
            f"设置 RECTIFY_{field.upper()} 的值{shown}无效：{_EXPECTED.get(first['type'], first['msg'])}"
        ) from None


def office_today(settings: Settings | SettingFields | None = None) -> date:
    """The one clock: every default "today" (CLI, flows, the sweep's future-day check)."""
    settings = settings or get_settings()
    if settings.today is not None:
        return settings.today
    return datetime.now(ZoneInfo(settings.timezone)).date()

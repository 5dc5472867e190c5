"""The one clock: RECTIFY_TODAY for rehearsal/demo ledgers, else today in Beijing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from rectify.cli import app
from rectify.settings import office_today


def test_office_today_is_beijing_date_by_default(settings_env, sqlite_url, monkeypatch):
    monkeypatch.delenv("RECTIFY_TODAY", raising=False)
    settings_env(sqlite_url)
    assert office_today() == datetime.now(ZoneInfo("Asia/Shanghai")).date()


def test_rectify_today_sets_the_clock_for_defaults_and_the_future_day_check(settings_env, sqlite_url):
    settings_env(sqlite_url, today="2030-06-03")
    assert office_today() == date(2030, 6, 3)
    runner = CliRunner()
    # a sweep for the day after "today" is refused before Prefect starts …
    result = runner.invoke(app, ["remind", "--today", "2030-06-04"])
    assert result.exit_code == 1 and "晚于今天（2030-06-03" in result.output
    # … and `list` without --today counts overdue against the same clock
    assert runner.invoke(app, ["list"]).exit_code == 0


def test_rectify_home_makes_the_default_paths_absolute_under_one_folder(tmp_path, monkeypatch):
    """Every process agrees on the ledger, outbox and reports wherever it starts."""
    from rectify.settings import Settings

    for key in ("DATABASE_URL", "OUTBOX_DIR", "REPORT_DIR", "HOME"):
        monkeypatch.delenv(f"RECTIFY_{key}", raising=False)
    monkeypatch.chdir(tmp_path)
    here = Settings()
    assert here.database_url == f"sqlite:///{tmp_path / 'rectify.db'}"
    assert (here.outbox_dir, here.report_dir) == (tmp_path / "outbox", tmp_path / "reports")

    monkeypatch.setenv("RECTIFY_HOME", str(tmp_path / "data"))
    monkeypatch.chdir("/")
    home = Settings()
    assert home.database_url == f"sqlite:///{tmp_path / 'data' / 'rectify.db'}"
    assert (home.outbox_dir, home.report_dir) == (tmp_path / "data" / "outbox", tmp_path / "data" / "reports")


def test_explicit_paths_win_over_rectify_home(tmp_path, monkeypatch):
    from rectify.settings import Settings

    monkeypatch.setenv("RECTIFY_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("RECTIFY_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("RECTIFY_OUTBOX_DIR", "mail")
    monkeypatch.delenv("RECTIFY_REPORT_DIR", raising=False)
    settings = Settings()
    assert (settings.database_url, settings.outbox_dir) == ("sqlite:///elsewhere.db", Path("mail"))
    assert settings.report_dir == tmp_path / "data" / "reports"

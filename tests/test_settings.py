"""The one clock: RECTIFY_TODAY for rehearsal/demo ledgers, else today in Beijing."""

from __future__ import annotations

from datetime import date, datetime
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

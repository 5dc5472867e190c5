"""The deadline-watch flow and `rectify remind` / `rectify outbox`, through the shared Prefect
test harness (one per session)."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import date

import pytest
from typer.testing import CliRunner

from ledger_helpers import dump
from models.db import session_factory
from rectify.settings import get_settings
from smtp_servers import free_port
from reminder_helpers import item, people

pytestmark = pytest.mark.flow
DAY = date(2026, 11, 30)


class OfficeClock:
    """`clock["today"] = d` sets the office's today through RECTIFY_TODAY, the app's one clock."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch

    def __setitem__(self, key: str, day: date) -> None:
        assert key == "today"
        self.monkeypatch.setenv("RECTIFY_TODAY", day.isoformat())
        get_settings.cache_clear()


@pytest.fixture(autouse=True)
def office_clock(monkeypatch):
    """Beijing "today" is DAY unless a test sets another: a sweep for a later day is refused
    (rectify.reminders.check_sweep_day), and these tests run on fixed business days."""
    clock = OfficeClock(monkeypatch)
    clock["today"] = DAY
    yield clock
    get_settings.cache_clear()


def ledger(url: str) -> None:
    with session_factory(url).begin() as s:
        p = people(s)
        item(s, "W-1", p["刘洋"], p["周建国"], date(2026, 11, 2))  # 20 working days overdue
        item(s, "W-2", p["孙丽"], p["吴海燕"], date(2026, 12, 1))  # due in 1 working day
        item(s, "W-3", p["孙丽"], p["吴海燕"], DAY)  # due today


def run_info(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, FlowRunFilter

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id={"any_": [flow_run_id]}))
    return tasks, artifacts


def test_sweep_writes_eml_files_and_publishes_artifacts(prefect_harness, sqlite_url, settings_env, tmp_path):
    from flows.deadline_watch import deadline_watch

    settings_env(sqlite_url)
    ledger(sqlite_url)
    state = deadline_watch(day=DAY, return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result["delivery"]["sent"] == 5  # 刘洋, 孙丽, 周建国, 吴海燕, 陈静
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 5
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["Subject"].startswith("【整改")
    tasks, artifacts = run_info(state.state_details.flow_run_id)
    # plan and record, the light tags, delivery, the repair: whatever the item count
    assert sorted(t.name.rsplit("-", 1)[0] for t in tasks) == sorted(
        ["投递发件箱", "补建流程运行", "计算并记录催办", "更新亮灯标签"]
    ), tasks
    assert result["repaired"] == {}  # no item has a run in this ledger
    keys = {a.key for a in artifacts}
    assert {"deadline-watch-items", "deadline-watch-reminders", "deadline-watch-delivery"} <= keys
    assert any(a.type == "progress" and a.data == 100.0 for a in artifacts)
    delivery = next(a for a in artifacts if a.key == "deadline-watch-delivery")
    rows = json.loads(delivery.data) if isinstance(delivery.data, str) else delivery.data
    assert {r["结果"] for r in rows} == {"已发送"}

    again = deadline_watch(day=DAY)  # re-run of the day: nothing new
    assert again["recorded"] == 0 and again["delivery"]["attempted"] == 0
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 5


def test_non_working_day_does_nothing(prefect_harness, sqlite_url, settings_env, office_clock):
    from flows.deadline_watch import deadline_watch

    settings_env(sqlite_url)
    office_clock["today"] = date(2026, 10, 3)
    ledger(sqlite_url)
    before = dump(sqlite_url)
    result = deadline_watch(day=date(2026, 10, 3))
    assert result["workday"] is False and "不是工作日" in result["message"]
    assert dump(sqlite_url) == before


def test_run_fails_visibly_when_nothing_could_be_delivered(prefect_harness, sqlite_url, settings_env):
    from flows.deadline_watch import deadline_watch

    settings_env(sqlite_url, smtp_host="127.0.0.1", smtp_port=str(free_port()), smtp_timeout="1")
    ledger(sqlite_url)
    state = deadline_watch(day=DAY, return_state=True)
    assert state.is_failed()
    assert "全部未能投递" in state.message or "全部未能投递" in str(state.result(raise_on_failure=False))
    with session_factory(sqlite_url)() as s:
        from sqlalchemy import select

        from models import OutboxMail

        assert set(s.scalars(select(OutboxMail.status))) == {"retry"}


def test_cli_remind_dry_run_changes_nothing_and_outbox_json(
    prefect_harness, sqlite_url, settings_env, tmp_path
):
    from rectify.cli import app

    settings_env(sqlite_url)
    ledger(sqlite_url)
    runner = CliRunner()
    before = dump(sqlite_url)
    out = runner.invoke(app, ["remind", "--today", "2026-11-30", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "试运行" in out.output and "刘洋" in out.output and "W-1" in out.output
    assert dump(sqlite_url) == before
    assert not (tmp_path / "outbox").exists()

    out = runner.invoke(app, ["remind", "--today", "2026-11-30"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["outbox", "--json"])
    rows = json.loads(out.output)
    assert len(rows) == 5 and {r["status"] for r in rows} == {"sent"}
    owner = next(r for r in rows if r["recipient"] == "刘洋")
    assert owner["items"] == ["W-1"] and owner["eml"].endswith(".eml")
    out = runner.invoke(app, ["outbox", "--failed"])
    assert out.exit_code == 0 and "没有符合条件" in out.output


def test_cli_remind_failure_is_one_line(prefect_harness, sqlite_url, settings_env):
    from rectify.cli import app

    settings_env(sqlite_url, smtp_host="127.0.0.1", smtp_port=str(free_port()), smtp_timeout="1")
    ledger(sqlite_url)
    out = CliRunner().invoke(app, ["remind", "--today", "2026-11-30"])
    assert out.exit_code == 1
    assert "错误：" in out.output and "全部未能投递" in out.output
    assert "Traceback" not in out.output
    # the refusal is named, and the retry text is true for a digest (same day only)
    assert "Connect call failed" in out.output and "次日起不再补发" in out.output


def test_a_later_day_is_refused_unless_dry_run(prefect_harness, sqlite_url, settings_env, office_clock):
    """Recorded now, Monday's reminders would go out on Friday and be skipped on Monday."""
    from flows.deadline_watch import deadline_watch
    from rectify.cli import app

    settings_env(sqlite_url)
    ledger(sqlite_url)
    office_clock["today"] = date(2026, 11, 27)  # Friday in Beijing
    before = dump(sqlite_url)
    runner = CliRunner()
    out = runner.invoke(app, ["remind", "--today", DAY.isoformat()])
    assert out.exit_code == 1, out.output
    assert out.output.strip().splitlines() == [
        "错误：2026-11-30 晚于今天（2026-11-27，北京时间），只能发送当天的催办；"
        "如需查看该日将发送的邮件请用试运行（--dry-run）"
    ]
    state = deadline_watch(day=DAY, return_state=True)  # the flow's `day` parameter too
    assert state.is_failed() and "晚于今天" in str(state.result(raise_on_failure=False))
    assert dump(sqlite_url) == before
    out = runner.invoke(app, ["remind", "--today", DAY.isoformat(), "--dry-run"])
    assert out.exit_code == 0 and "试运行" in out.output and "W-1" in out.output
    assert dump(sqlite_url) == before


def test_a_past_day_is_refused_unless_dry_run(prefect_harness, sqlite_url, settings_env, office_clock):
    """Case 1: 30 Nov, then 27 Nov, then 26 Nov would send every recipient three digests on
    one day with stale 今日到期 text. Only today's sweep records and sends."""
    from flows.deadline_watch import deadline_watch
    from rectify.cli import app

    settings_env(sqlite_url)
    ledger(sqlite_url)
    runner = CliRunner()
    assert runner.invoke(app, ["remind", "--today", DAY.isoformat()]).exit_code == 0
    before = dump(sqlite_url)
    for past in ("2026-11-27", "2026-11-26"):
        out = runner.invoke(app, ["remind", "--today", past])
        assert out.exit_code == 1, out.output
        assert out.output.strip().splitlines() == [
            f"错误：{past} 早于今天（2026-11-30，北京时间），只能发送当天的催办；"
            "如需查看该日将发送的邮件请用试运行（--dry-run）"
        ]
        assert dump(sqlite_url) == before
        out = runner.invoke(app, ["remind", "--today", past, "--dry-run"])
        assert out.exit_code == 0 and "试运行" in out.output
        assert dump(sqlite_url) == before
    state = deadline_watch(day=date(2026, 11, 27), return_state=True)
    assert state.is_failed() and "早于今天" in str(state.result(raise_on_failure=False))
    assert dump(sqlite_url) == before


def test_next_days_sweep_does_not_replay_yesterdays_undelivered_digests(
    prefect_harness, sqlite_url, settings_env, office_clock, monkeypatch
):
    from rectify.cli import app
    from rectify.settings import get_settings

    settings_env(sqlite_url, smtp_host="127.0.0.1", smtp_port=str(free_port()), smtp_timeout="1")
    ledger(sqlite_url)
    runner = CliRunner()
    assert runner.invoke(app, ["remind", "--today", DAY.isoformat()]).exit_code == 1  # server down
    monkeypatch.delenv("RECTIFY_SMTP_HOST")  # 1 Dec: mail works again (.eml files)
    get_settings.cache_clear()
    office_clock["today"] = date(2026, 12, 1)
    out = runner.invoke(app, ["remind", "--today", "2026-12-01"])
    assert out.exit_code == 0, out.output
    assert "5封此前未能投递的催办邮件已过期未发，不再补发" in out.output
    rows = json.loads(runner.invoke(app, ["outbox", "--json"]).output)
    by_day = {(r["day"], r["status_label"]) for r in rows}
    assert by_day == {("2026-11-30", "过期未发"), ("2026-12-01", "已发送")}
    sent = [r["recipient"] for r in rows if r["status"] == "sent"]
    assert len(sent) == len(set(sent))  # one email per person on 1 Dec

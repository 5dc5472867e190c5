"""What people wrote shows as written in the Prefect UI: a real `prefect server start`, the
deadline-watch and report artifacts made by `rectify remind` and `rectify report` from a
ledger whose names and descriptions carry Markdown, bare URLs and email addresses, and each
artifact page opened in headless Chromium: no link, no bold, the text as it was typed."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from models import AuditRecord, Person, Role
from models.db import session_factory
from processes import wait_for
from e2e_helpers import chromium, prefect_server, rectify
from ui_forms import evaluate
from reminder_helpers import item, people

pytestmark = pytest.mark.e2e

HOSTILE_NAME = "**粗体**[链接](http://evil.test)"
HOSTILE_TEXT = "详见 http://evil.test/a 或 www.evil.test，联系 boss@evil.test"


@pytest.fixture
def server(tmp_path):
    with prefect_server(tmp_path, {"RECTIFY_TODAY": "2026-11-30"}, health_timeout=120) as (_, api, port, env):
        yield {"api": api, "ui": f"http://127.0.0.1:{port}", "env": env, "tmp": tmp_path}


def hostile_ledger(url: str) -> None:
    with session_factory(url).begin() as s:
        p = people(s)
        owner = Person(name=HOSTILE_NAME, email="owner@example.gov.cn", role=Role.owner)
        s.add(owner)
        s.flush()
        it = item(s, "M-1", owner, p["周建国"], date(2026, 11, 20))
        it.description = HOSTILE_TEXT
        it2 = item(s, "M-2", owner, p["周建国"], date(2026, 11, 30))
        it2.description = HOSTILE_TEXT
        for one in (it, it2):  # the report reads each item's state as of a day from its history
            s.add(
                AuditRecord(
                    item_id=one.id,
                    actor="系统",
                    day=date(2026, 9, 1),
                    action="import",
                    from_status=None,
                    to_status="in_progress",
                    comment="",
                )
            )


def artifact_pages(api: str) -> dict[str, str]:
    import httpx

    found = httpx.post(f"{api}/artifacts/filter", json={"limit": 50}, timeout=10).json()
    return {a["key"]: a["id"] for a in found if a.get("key")}


def inspect_in_chromium(ui: str, pages: dict[str, str], tmp) -> dict[str, dict]:
    seen = {}
    with chromium(tmp) as call:
        for key, artifact_id in pages.items():
            call("Page.navigate", url=f"{ui}/artifacts/artifact/{artifact_id}")
            wait_for(key, lambda: "evil" in (evaluate(call, "document.body.innerText") or ""), timeout=45)
            seen[key] = evaluate(
                call,
                """({
                text: document.body.innerText,
                links: [...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '')
                       .filter(h => /evil/.test(h)),
                bold: [...document.querySelectorAll('strong, b')].map(e => e.innerText)
                      .filter(t => t.includes('粗体')),
            })""",
            )
            shot = call("Page.captureScreenshot", format="png")["data"]
            (tmp / f"artifact-{key}.png").write_bytes(base64.b64decode(shot))
    return seen


def test_hostile_markdown_shows_as_written_in_every_artifact(server):
    hostile_ledger(server["env"]["RECTIFY_DATABASE_URL"])
    out = rectify(server, "remind")
    assert out.returncode == 0, out.stderr
    out = rectify(server, "report", "--format", "md", "--as-of", "2026-11-30")
    assert out.returncode == 0, out.stderr
    pages = artifact_pages(server["api"])
    wanted = {
        "deadline-watch-items",
        "deadline-watch-reminders",
        "deadline-watch-delivery",
        "next-steps-report",
    }
    assert wanted <= set(pages), pages
    seen = inspect_in_chromium(server["ui"], {k: pages[k] for k in wanted}, server["tmp"])
    for key, page in seen.items():
        assert page["links"] == [], (key, page["links"])
        assert page["bold"] == [], (key, page["bold"])
    for key in ("deadline-watch-items", "deadline-watch-reminders", "deadline-watch-delivery"):
        assert HOSTILE_NAME in seen[key]["text"], key
    report = seen["next-steps-report"]["text"]
    assert HOSTILE_TEXT.split("，")[0] in report and "boss@evil.test" in report

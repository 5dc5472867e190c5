"""The light tags of item runs (临期 · 逾期) against Prefect's real API: set where the light is,
replaced when it changes, removed when it goes, other tags untouched."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from ledger_helpers import add_item, add_people
from models import Item, Status
from models.db import session_factory
from rectify.run_lights import light_tags
from rectify.workdays import WorkCalendar

pytestmark = pytest.mark.flow
DAY = date(2026, 11, 30)  # a Monday


def test_light_tags_follow_the_ledger(sqlite_url, prefect_harness):
    from prefect import flow
    from prefect.client.orchestration import get_client

    from tasks.run_tags import sync_light_tags

    @flow(name="light-probe")
    def probe() -> None: ...

    with get_client(sync_client=True) as client:
        client.create_flow(probe)
        runs = [client.create_flow_run(probe, tags=["类别:班子问题"]) for _ in range(4)]
    deadlines = {
        "L-1": date(2026, 11, 20),
        "L-2": date(2026, 12, 4),
        "L-3": date(2026, 12, 31),
        "L-4": date(2026, 11, 2),
    }
    maker = session_factory(sqlite_url)
    with maker.begin() as s:
        p = add_people(s)
        for (code, deadline), run in zip(deadlines.items(), runs):
            status = Status.closed if code == "L-4" else Status.in_progress
            add_item(s, code, status, owner=p["刘洋"], leader=p["周建国"], deadline=deadline)
            s.execute(update(Item).where(Item.code == code).values(flow_run_id=str(run.id)))

    def tags() -> list[list[str]]:
        with get_client(sync_client=True) as client:
            return [client.read_flow_run(r.id).tags for r in runs]

    with maker() as s:
        wanted = light_tags(s, DAY, WorkCalendar(None), (5, 1))
    assert sync_light_tags(wanted) == 2
    assert tags() == [
        ["类别:班子问题", "逾期"],
        ["类别:班子问题", "临期"],
        ["类别:班子问题"],
        ["类别:班子问题"],
    ]
    assert sync_light_tags(wanted) == 0  # nothing changed: nothing written

    with maker.begin() as s:  # L-1 closed, L-2's deadline passed a week later
        s.execute(update(Item).where(Item.code == "L-1").values(status=Status.closed))
        wanted = light_tags(s, date(2026, 12, 7), WorkCalendar(None), (5, 1))
    assert sync_light_tags(wanted) == 2  # L-3 (12-31) is not yet within 5 working days
    assert tags()[:3] == [["类别:班子问题"], ["类别:班子问题", "逾期"], ["类别:班子问题"]]

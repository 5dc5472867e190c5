"""Waiting runs made on purpose (pre-created, paused) and new items to give them, for the
waiting-run and run-repair tests.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from ledger_helpers import DAY, add_item, add_people
from models import Item, Status
from models.db import session_factory
from rectify import item_process


def seed_new_items(url: str, settings_env, codes: tuple[str, ...]) -> str:
    """People and new items with owner 刘洋 and leader 周建国, as a register gives them."""
    settings_env(url, today=DAY.isoformat())
    with session_factory(url)() as s, s.begin():
        people = add_people(s)
        for code in codes:
            add_item(s, code, Status.new, owner=people["刘洋"], leader=people["周建国"])
    return url


def precreate(url: str, deployment_id, code: str, secretary: str | None, key: str) -> UUID:
    """What the intake does for one item: its first turn in the ledger, then the waiting run."""
    from prefect.client.orchestration import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    from flows.forms import build_form
    from flows.intake import first_wait
    from flows.item import _deliver
    from tasks.waiting_runs import create_waiting_runs

    with item_process.transaction(url) as s:
        wait = first_wait(s, code, secretary, DAY)
        item = s.scalars(select(Item).where(Item.code == code)).one()
        request = item_process.run_request(item, key)
    request["wait"] = wait
    request["parameters"] = {"code": code, "title": "问题", "day": DAY.isoformat()}

    async def create():
        async with get_client() as client:
            return await create_waiting_runs(client, deployment_id, [request], build_form)

    run_id = UUID(run_coro_as_sync(create())[code])
    with item_process.transaction(url) as s:  # and links it, as the intake does (once)
        item_process.link_run(s, code, str(run_id))
        assert s.scalar(select(Item.flow_run_id).where(Item.code == code)) == str(run_id)
    _deliver()  # the intake delivers the notices it queued (with their codes) after creating
    return run_id


def paused(run_id: UUID):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)

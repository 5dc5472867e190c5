"""Recording delivery outcomes in batches (rectify.outbox_claims.mark_results) and the outbox
mode's order of events: files on disk (directory synced) before they are recorded as sent."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from models import OutboxMail
from models.db import session_factory
from notifications import eml_files, smtp
from rectify.delivery import deliver_pending
from rectify.outbox_claims import claim_pending, mark_results
from delivery_helpers import DAY, sweep_ledger


@pytest.mark.parametrize("sane_rowcount", [True, False])
def test_mark_results_records_ours_and_reports_lost_leases(sqlite_url, monkeypatch, sane_rowcount):
    maker = session_factory(sqlite_url)
    sweep_ledger(maker, n_owners=3)
    with maker.begin() as s:
        rows = claim_pending(s, "me", limit=10)
    ids = [r.id for r in rows]
    with maker.begin() as s:  # another sweep took over the first row after our lease expired
        s.execute(update(OutboxMail).where(OutboxMail.id == ids[0]).values(claimed_by="other"))
    outcomes = [
        {
            "id": i,
            "status": "sent",
            "error": None,
            "attempts": 1,
            "prior_attempts": 0,
            "message_id": f"<m{i}@x>",
        }
        for i in ids
    ]
    outcomes[1] |= {"status": "retry", "error": "451", "prior_attempts": 11}  # the 12th: gives up
    with maker.begin() as s:
        if not sane_rowcount:
            monkeypatch.setattr(s.get_bind().dialect, "supports_sane_multi_rowcount", False)
        lost = mark_results(s, "me", outcomes)
    assert lost == {ids[0]}
    with maker() as s:
        got = {r.id: r for r in s.scalars(select(OutboxMail))}
    assert got[ids[0]].status == "sending" and got[ids[0]].claimed_by == "other"
    assert (got[ids[1]].status, got[ids[1]].attempts) == ("failed", 12)
    assert "不再自动重发" in got[ids[1]].last_error
    for i in ids[2:]:
        assert (got[i].status, got[i].attempts, got[i].message_id) == ("sent", 1, f"<m{i}@x>")
        assert got[i].sent_at is not None


def test_outbox_syncs_the_directory_before_recording(sqlite_url, tmp_path, monkeypatch):
    from notifications.smtp import MailConfig

    maker = session_factory(sqlite_url)
    sweep_ledger(maker, n_owners=3)
    events = []
    real_sync = eml_files._fsync_dir
    monkeypatch.setattr(eml_files, "_fsync_dir", lambda p: (events.append("sync"), real_sync(p)))
    real_emit = smtp._Batch.emit
    monkeypatch.setattr(
        smtp._Batch, "emit", lambda self, i, r: (events.append(r.status), real_emit(self, i, r))
    )
    report = deliver_pending(maker, MailConfig(outbox_dir=tmp_path / "out"), day=DAY)
    assert report.sent == 4 and events == ["sync"] + ["sent"] * 4
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == 4 and all(f.endswith(".eml") and not f.startswith(".") for f in files)

"""People and items with given deadlines for the reminder, delivery and digest tests, on the
calendar and settings those tests share (the deadline ladder alone, 定期报送 off).
"""

from __future__ import annotations

from datetime import date


from models import Item, Measure, Person, Role, Status
from rectify.settings import Settings
from rectify.workdays import WorkCalendar


CAL = WorkCalendar(None)


# The deadline ladder alone: 定期报送 sections are tested in tests/test_reporting.py.
SETTINGS = Settings(_env_file=None, reporting="off")


def people(session) -> dict[str, Person]:
    out = {}
    for i, (name, role) in enumerate(
        [
            ("陈静", Role.secretary),
            ("周建国", Role.leader),
            ("吴海燕", Role.leader),
            ("刘洋", Role.owner),
            ("孙丽", Role.owner),
        ]
    ):
        out[name] = Person(name=name, email=f"p{i}@example.gov.cn", role=role)
        session.add(out[name])
    session.flush()
    return out


def item(
    session,
    code: str,
    owner: Person,
    leader: Person | None,
    *deadlines: date | None,
    status: Status = Status.in_progress,
) -> Item:
    dated = [d for d in deadlines if d is not None]
    it = Item(
        code=code,
        description=f"问题{code}<script>alert(1)</script>",
        department="办公室",
        status=status,
        owner_id=owner.id,
        leader_id=leader.id if leader else None,
        deadline=max(dated) if dated else None,
        register_date=date(2026, 9, 1),
        deadline_changed_on=date(2026, 9, 1),
    )
    it.measures = [
        Measure(position=i, text=f"措施{i + 1}", deadline=d, deadline_text=d.isoformat() if d else "长期坚持")
        for i, d in enumerate(deadlines)
    ]
    session.add(it)
    session.flush()
    return it

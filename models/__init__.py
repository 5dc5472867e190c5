"""SQLAlchemy 2 typed models of the ledger and the engine/session set-up."""

from models.audit import AuditRecord
from models.base import Base
from models.codes import ActionCode
from models.items import Evidence, Extension, Item, Measure, ProgressNote
from models.people import Person
from models.reminders import OutboxMail, ReminderLine
from models.status import OPEN_STATUSES, Role, Status

__all__ = [
    "ActionCode",
    "AuditRecord",
    "Base",
    "Evidence",
    "Extension",
    "Item",
    "Measure",
    "OPEN_STATUSES",
    "OutboxMail",
    "Person",
    "ProgressNote",
    "ReminderLine",
    "Role",
    "Status",
]

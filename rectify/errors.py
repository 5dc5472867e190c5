"""Errors a person can act on. Each one is shown as a single Chinese line, never a traceback."""


class RectifyError(Exception):
    """Base class: the message is what the person reads."""


class NotFound(RectifyError):
    pass


class Forbidden(RectifyError):
    """The acting person's role does not allow this."""


class InvalidTransition(RectifyError):
    """The item's state does not allow this move."""


class ConcurrentChange(RectifyError):
    """Someone else changed the item between our read and our write."""


class ImportRejected(RectifyError):
    """The whole register is refused; nothing was written. `problems` lists every bad cell."""

    def __init__(self, problems: list):
        self.problems = problems
        super().__init__(f"导入被拒绝：发现{len(problems)}处问题，台账未作任何修改")


class InvalidInput(RectifyError):
    """A value a person typed cannot be stored as it is (a date out of range, control characters)."""

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

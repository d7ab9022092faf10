"""The errors fwstart reports to the person at the terminal.

Every error carries a message (what is wrong, and where) and a hint (how to fix
it). The CLI prints both and exits non-zero; anything that is not a
``FwstartError`` is a bug in fwstart.
"""


class FwstartError(Exception):
    """Base class: a problem the person can fix, described for them."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(FwstartError):
    """A flag or an answer has a value fwstart cannot use."""


class AnswersFileError(FwstartError):
    """The --answers file is missing, unreadable or holds a wrong key or value."""


class DestinationError(FwstartError):
    """The project cannot be written where the person asked."""


class TemplateError(FwstartError):
    """A template or its data entry is broken: a fault in fwstart's own files."""

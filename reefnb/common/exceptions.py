"""The one exceptions module: every error a user can cause is a ReefError.

Front ends turn a ReefError into one line (``str(error)``) and ``error.exit_code``;
any other exception is a bug and may show its traceback.
"""

from __future__ import annotations


class ReefError(Exception):
    """A problem the user can fix; ``str()`` is the one line to show."""

    exit_code = 2


class ManifestError(ReefError):
    """A solution manifest (or notebook it names) is invalid.

    ``problems`` holds every problem as one line ``FILE: /json/pointer: message``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ParameterError(ReefError):
    """A parameter is unknown to the notebook or cannot be cast to its declared type."""


class StoreError(ReefError):
    """The results store cannot be opened or written."""


class RunFailed(ReefError):
    """A notebook run ended in a status other than ok; carries its run record."""

    exit_code = 1

    def __init__(self, record: dict):
        self.record = record
        error = record.get("error") or {}
        super().__init__(
            f"run {record['run_id']} {record['status']}: {error.get('name', '')}: {error.get('message', '')}".rstrip(": ")
        )


class InputError(ReefError):
    """A file or request body reef does not trust is not acceptable JSON (too large, too deep, malformed).

    ``str()`` is ``SOURCE: /json/pointer: message``.
    """

    def __init__(self, source: str, pointer: str, message: str):
        self.source, self.pointer, self.reason = source, pointer, message
        super().__init__(f"{source}: {pointer or '/'}: {message}")


class IntegrityError(ReefError):
    """Bytes from a registry are not the ones first seen here, or lack a signature the registry requires."""


class ActionInputError(ReefError):
    """The input of a solution's action does not follow the action's schema, or names no action (see reefnb.actions.api)."""


class ActionFailed(ReefError):
    """A solution's action raised, or its worker died, or its output broke its schema; ``str()`` is that one line."""

    exit_code = 1

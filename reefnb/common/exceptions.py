"""The one exceptions module: every error a user can cause is a ReefError, and every exception class of
reefnb is defined here, with the exit codes of ``reef`` (the one table of them: ``EXIT_CODES``).

Front ends turn a ReefError into one line (``str(error)``) and ``error.exit_code``; any other exception is
a bug and may show its traceback. An error's exit code comes from its kind: each class derives from one
of the bases below (``WrongInput``, ``Failure``, ``EnvironmentFailure``, ``NetworkFailure``,
``StoreFailure``), which alone set ``exit_code``. A class of two kinds names the one that decides first
(``class ArtifactUnavailable(NetworkFailure, ArtifactError)``). docs/exit-codes.md lists the codes and the
classes of each (tests/common/test_exceptions.py checks it against this module).

The modules that raise an error import it from here (and keep the name importable where it was, e.g.
``reefnb.sharing.package.PackageError``). Two parts define their own, as they run where reefnb's core is
not importable: ``reefnb.kernel.bench`` (``LoadGenError``, inside a kernel) and ``reefnb.actions.worker``
(``LoadError``, run by its path with another environment's python).
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_NETWORK = 4
EXIT_STORE = 5
EXIT_INTERRUPTED = 130

# (code, name, meaning): the exit codes of `reef` and `%reef`, one a meaning; docs/exit-codes.md shows them.
EXIT_CODES: tuple[tuple[int, str, str], ...] = (
    (EXIT_OK, "EXIT_OK", "the command did what was asked"),
    (EXIT_FAILED, "EXIT_FAILED", "what the command ran failed: a run, a sweep point, an action, a reproduction"),
    (EXIT_USAGE, "EXIT_USAGE", "the input, a file or the request was wrong: nothing was done"),
    (EXIT_ENVIRONMENT, "EXIT_ENVIRONMENT", "this machine failed: an environment, an install, an interpreter"),
    (EXIT_NETWORK, "EXIT_NETWORK", "a remote did not answer: a registry, an artifact's URL, a scheduler"),
    (EXIT_STORE, "EXIT_STORE", "the results store could not be opened, read or written (a record may wait)"),
    (EXIT_INTERRUPTED, "EXIT_INTERRUPTED", "interrupted (Ctrl-C)"),
)
LEAVES_FOLDER = "path leaves the solution folder"


class ReefError(Exception):
    """A problem the user can fix; ``str()`` is the one line to show.

    Every error a user can cause is a ``ReefError``; any other exception is a bug. Front ends show
    ``str(error)`` and exit with ``error.exit_code``, which a subclass takes from its kind (one of the
    bases below). A ``ReefError`` raised as it is means the input was wrong.

    Attributes
    ----------
    exit_code : int
        The exit status of a command that stops on this error (``EXIT_CODES``).
    """

    exit_code = EXIT_USAGE


# --- the kinds: each sets the exit code of its subclasses ------------------------------------------


class WrongInput(ReefError):
    """The input, a file or the request was wrong: nothing was done (exit 2)."""

    exit_code = EXIT_USAGE


class Failure(ReefError):
    """The command ran something and that failed: a run, an action, an initialisation (exit 1)."""

    exit_code = EXIT_FAILED


class EnvironmentFailure(ReefError):
    """This machine failed the command: an environment, an installer, an interpreter, a folder (exit 3)."""

    exit_code = EXIT_ENVIRONMENT


class NetworkFailure(ReefError):
    """A remote did not answer or refused: a registry, an artifact's URL, a Dask scheduler (exit 4)."""

    exit_code = EXIT_NETWORK


class StoreFailure(ReefError):
    """The results store cannot be opened, read or written (exit 5)."""

    exit_code = EXIT_STORE


# --- input and manifests ---------------------------------------------------------------------------


class InputError(WrongInput):
    """A file or request body reef does not trust is not acceptable JSON (too large, too deep, malformed).

    ``str()`` is ``SOURCE: /json/pointer: message``.
    """

    def __init__(self, source: str, pointer: str, message: str):
        self.source, self.pointer, self.reason = source, pointer, message
        super().__init__(f"{source}: {pointer or '/'}: {message}")


class ManifestError(WrongInput):
    """A solution manifest (or notebook it names) is invalid.

    ``str()`` is every problem, one a line.

    Parameters
    ----------
    problems
        Every problem as one line ``FILE: /json/pointer: message``, kept as ``problems``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PathOutside(WrongInput):
    """A path a manifest names leads outside its solution folder; ``str()`` is ``LEAVES_FOLDER``, the caller
    adds where."""

    def __init__(self, message: str = LEAVES_FOLDER):
        super().__init__(message)


class NotebookError(WrongInput):
    """A notebook file is missing, unreadable or not valid nbformat."""


class ParameterError(WrongInput):
    """A parameter is unknown to the notebook or cannot be cast to its declared type."""


class VersionError(WrongInput):
    """A version or range that cannot be parsed, or a dependency graph that cannot be resolved."""


class ConflictError(VersionError):
    """No published version of a component satisfies every range that asks for it."""


class CycleError(VersionError):
    """Components depend on each other in a circle."""


class UsageError(WrongInput):
    """Bad command-line usage."""


class RequestError(WrongInput):
    """A request the sidebar (or a user) got wrong; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        self.status = status
        super().__init__(message)


# --- provisioning ----------------------------------------------------------------------------------


class ArchiveError(WrongInput):
    """An archive is refused or unreadable (``reefnb.common.archives``); names the archive and the member.

    The callers raise it again as their own error (``PackageError``, ``ArtifactError``) with the same line.
    """


class ArtifactError(WrongInput):
    """An artifact cannot be fetched, verified, unpacked or generated; the message names it and the URL or file.

    Also raised for a size setting that cannot be read (``reefnb.common.units.parse_size``).
    """


class ArtifactUnavailable(NetworkFailure, ArtifactError):
    """No source answered (network down, HTTP error, offline): a ``fallback`` or ``generate`` may stand in.

    ``failures`` holds ``(url, reason)`` for each URL tried.
    """

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None):
        self.failures = list(failures or [])
        super().__init__(message)


class TransferInterrupted(Exception):
    """A download stopped part way; what arrived is kept in the ``.part`` file (internal: the downloader
    resumes, then turns it into ArtifactUnavailable)."""


class EnvError(WrongInput):
    """An environment asked for cannot be: a name that is not allowed, one that is not there, or is already."""


class EnvFailed(EnvironmentFailure, EnvError):
    """An environment could not be made or changed here: its installer or its interpreter failed (exit 3)."""


class InitError(Failure):
    """The solution cannot be initialised here; ``plan`` (a ``reefnb.provision.install.Plan``) says why."""

    def __init__(self, message: str, plan: Any):
        self.plan = plan
        super().__init__(message)


# --- runs and results ------------------------------------------------------------------------------


class RunFailed(Failure):
    """A notebook run ended in a status other than ok; carries its run record.

    ``str()`` is ``run RUN_ID STATUS: ERROR NAME: MESSAGE``; the exit code is 1.

    Parameters
    ----------
    record
        The run's record, kept as ``record``.
    """

    def __init__(self, record: dict):
        self.record = record
        error = record.get("error") or {}
        super().__init__(
            f"run {record['run_id']} {record['status']}: {error.get('name', '')}: {error.get('message', '')}".rstrip(
                ": "
            )
        )


class StoreError(StoreFailure):
    """The results store cannot be opened, read or written (exit 5)."""


class StoreLocked(StoreError):
    """Another process held the results store's lock for longer than reef waits (``REEF_STORE_WAIT``): nothing
    was wrong with the input; a store failure (exit 5)."""


class RecordPending(StoreError):
    """A finished run's record could not be written to the store and is kept beside it, to be added when the
    store is next opened; ``str()`` says why and where. What ran did not fail: a store failure (exit 5)."""


class QueryError(WrongInput):
    """A ``where`` or ``since`` filter that cannot be used; ``str()`` says which and why."""


class AttachmentRefused(Exception):
    """One attached file that is not kept; ``str()`` says why (internal: the run record lists it as refused)."""


# --- sharing ---------------------------------------------------------------------------------------


class PackageError(WrongInput):
    """A package cannot be written, or an archive is refused on import (names the archive and member)."""


class RegistryError(WrongInput):
    """A registry refuses what was asked, or is not known here (names the registry)."""


class RegistryUnreachable(NetworkFailure, RegistryError):
    """A registry cannot be cloned, fetched or pushed to (network down, refused, no such repository): exit 4."""


class IntegrityError(WrongInput):
    """Bytes from a registry are not the ones first seen here, or lack a signature the registry requires."""


class ComplianceFailed(Failure):
    """An MLPerf compliance test fails reef's verification, run again: what ran failed; no closed tree is written."""


class ShardError(Exception):
    """A part that cannot be read as a results shard (internal: the reader turns it into a warning)."""


# --- actions ---------------------------------------------------------------------------------------


class ActionInputError(WrongInput):
    """The input of a solution's action does not follow the action's schema, or names no action (see
    reefnb.actions.api)."""


class ActionFailed(Failure):
    """A solution's action raised, or its worker died, or its output broke its schema; ``str()`` is that one line."""


class ActionTimeout(ActionFailed):
    """A solution's action took longer than its timeout; its worker process was killed and is replaced."""


class WorkerProtocolError(ActionFailed):
    """An action worker's reply broke the protocol (bytes that are not a frame, another request's answer, not an
    object): the worker is out of step, so it is stopped and replaced; ``str()`` says what was wrong."""

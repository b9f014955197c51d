"""The one exceptions module: every error a user can cause is a ReefError, and every exception class of
reefnb is defined here.

Front ends turn a ReefError into one line (``str(error)``) and ``error.exit_code``; any other exception is
a bug and may show its traceback. The modules that raise an error import it from here (and keep the name
importable where it was, e.g. ``reefnb.sharing.package.PackageError``).

Two parts define their own, as they run where reefnb's core is not importable: ``reefnb.kernel.bench``
(``LoadGenError``, inside a kernel) and ``reefnb.actions.worker`` (``LoadError``, run by its path with
another environment's python).
"""

from __future__ import annotations

from typing import Any

EXIT_FAILED = 1  # the command ran and what it ran failed (a run, an action, an initialisation)
EXIT_USAGE = 2  # the input, a file or the request was wrong: nothing was done
LEAVES_FOLDER = "path leaves the solution folder"


class ReefError(Exception):
    """A problem the user can fix; ``str()`` is the one line to show.

    Every error a user can cause is a ``ReefError``; any other exception is a bug. Front ends show
    ``str(error)`` and exit with ``error.exit_code``.

    Attributes
    ----------
    exit_code : int
        The exit status of a command that stops on this error: 2 when the input, a file or the
        request was wrong and nothing was done; 1 when what the command ran failed.
    """

    exit_code = EXIT_USAGE


# --- input and manifests ---------------------------------------------------------------------------


class InputError(ReefError):
    """A file or request body reef does not trust is not acceptable JSON (too large, too deep, malformed).

    ``str()`` is ``SOURCE: /json/pointer: message``.
    """

    exit_code = EXIT_USAGE

    def __init__(self, source: str, pointer: str, message: str):
        self.source, self.pointer, self.reason = source, pointer, message
        super().__init__(f"{source}: {pointer or '/'}: {message}")


class ManifestError(ReefError):
    """A solution manifest (or notebook it names) is invalid.

    ``str()`` is every problem, one a line.

    Parameters
    ----------
    problems
        Every problem as one line ``FILE: /json/pointer: message``, kept as ``problems``.
    """

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PathOutside(ReefError):
    """A path a manifest names leads outside its solution folder; ``str()`` is ``LEAVES_FOLDER``, the caller adds where."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str = LEAVES_FOLDER):
        super().__init__(message)


class NotebookError(ReefError):
    """A notebook file is missing, unreadable or not valid nbformat."""

    exit_code = EXIT_USAGE


class ParameterError(ReefError):
    """A parameter is unknown to the notebook or cannot be cast to its declared type."""

    exit_code = EXIT_USAGE


class VersionError(ReefError):
    """A version or range that cannot be parsed, or a dependency graph that cannot be resolved."""

    exit_code = EXIT_USAGE


class ConflictError(VersionError):
    """No published version of a component satisfies every range that asks for it."""

    exit_code = EXIT_USAGE


class CycleError(VersionError):
    """Components depend on each other in a circle."""

    exit_code = EXIT_USAGE


class UsageError(ReefError):
    """Bad command-line usage."""

    exit_code = EXIT_USAGE


class RequestError(ReefError):
    """A request the sidebar (or a user) got wrong; ``status`` is the HTTP status to answer with."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, status: int = 400):
        self.status = status
        super().__init__(message)


# --- provisioning ----------------------------------------------------------------------------------


class ArchiveError(ReefError):
    """An archive is refused or unreadable (``reefnb.common.archives``); names the archive and the member.

    The callers raise it again as their own error (``PackageError``, ``ArtifactError``) with the same line.
    """

    exit_code = EXIT_USAGE


class ArtifactError(ReefError):
    """An artifact cannot be fetched, verified, unpacked or generated; the message names it and the URL or file.

    Also raised for a size setting that cannot be read (``reefnb.common.units.parse_size``).
    """

    exit_code = EXIT_USAGE


class ArtifactUnavailable(ArtifactError):
    """No source answered (network down, HTTP error, offline): a ``fallback`` or ``generate`` may stand in.

    ``failures`` holds ``(url, reason)`` for each URL tried.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None):
        self.failures = list(failures or [])
        super().__init__(message)


class TransferInterrupted(Exception):
    """A download stopped part way; what arrived is kept in the ``.part`` file (internal: the downloader
    resumes, then turns it into ArtifactUnavailable)."""


class EnvError(ReefError):
    """An environment cannot be created, found or changed."""

    exit_code = EXIT_USAGE


class InitError(ReefError):
    """The solution cannot be initialised here; ``plan`` (a ``reefnb.provision.install.Plan``) says why."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, plan: Any):
        self.plan = plan
        super().__init__(message)


# --- runs and results ------------------------------------------------------------------------------


class RunFailed(ReefError):
    """A notebook run ended in a status other than ok; carries its run record.

    ``str()`` is ``run RUN_ID STATUS: ERROR NAME: MESSAGE``; the exit code is 1.

    Parameters
    ----------
    record
        The run's record, kept as ``record``.
    """

    exit_code = EXIT_FAILED

    def __init__(self, record: dict):
        self.record = record
        error = record.get("error") or {}
        super().__init__(
            f"run {record['run_id']} {record['status']}: {error.get('name', '')}: {error.get('message', '')}".rstrip(
                ": "
            )
        )


class StoreError(ReefError):
    """The results store cannot be opened or written."""

    exit_code = EXIT_USAGE


class StoreLocked(StoreError):
    """Another process held the results store's lock for longer than reef waits (``REEF_STORE_WAIT``): nothing
    was wrong with the input, so the exit code is 1."""

    exit_code = EXIT_FAILED


class RecordPending(StoreError):
    """A finished run's record could not be written to the store and is kept beside it, to be added when the
    store is next opened; ``str()`` says why and where. The exit code is 1."""

    exit_code = EXIT_FAILED


class QueryError(ReefError):
    """A ``where`` or ``since`` filter that cannot be used; ``str()`` says which and why."""

    exit_code = EXIT_USAGE


class AttachmentRefused(Exception):
    """One attached file that is not kept; ``str()`` says why (internal: the run record lists it as refused)."""


# --- sharing ---------------------------------------------------------------------------------------


class PackageError(ReefError):
    """A package cannot be written, or an archive is refused on import (names the archive and member)."""

    exit_code = EXIT_USAGE


class RegistryError(ReefError):
    """A registry cannot be reached or changed, or refuses what was asked (names the registry)."""

    exit_code = EXIT_USAGE


class IntegrityError(ReefError):
    """Bytes from a registry are not the ones first seen here, or lack a signature the registry requires."""

    exit_code = EXIT_USAGE


class ComplianceFailed(ReefError):
    """An MLPerf compliance test that fails reef's verification, run again: what ran failed; no closed tree is written."""

    exit_code = EXIT_FAILED


class ShardError(Exception):
    """A part that cannot be read as a results shard (internal: the reader turns it into a warning)."""


# --- actions ---------------------------------------------------------------------------------------


class ActionInputError(ReefError):
    """The input of a solution's action does not follow the action's schema, or names no action (see reefnb.actions.api)."""

    exit_code = EXIT_USAGE


class ActionFailed(ReefError):
    """A solution's action raised, or its worker died, or its output broke its schema; ``str()`` is that one line."""

    exit_code = EXIT_FAILED


class ActionTimeout(ActionFailed):
    """A solution's action took longer than its timeout; its worker process was killed and is replaced."""

    exit_code = EXIT_FAILED


class WorkerProtocolError(ActionFailed):
    """An action worker's reply broke the protocol (bytes that are not a frame, another request's answer, not an
    object): the worker is out of step, so it is stopped and replaced; ``str()`` says what was wrong."""

    exit_code = EXIT_FAILED

"""What a detector is: the ``Detector`` base class and the ``DetectContext`` it is given (the python environment
being inspected). A plugin subclasses ``Detector`` (CONTRIBUTING: "Add a detector").
"""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from reefnb.common.exceptions import ReefError
from reefnb.common.tool_output import run_tool
from reefnb.common.units import format_size
from reefnb.provision.detection.stamps import file_stamp

INTERPRETER_TIMEOUT_S = 60
MAX_SCRIPT_OUTPUT_BYTES = 64 * 1024 * 1024  # what an environment's python says of its packages and modules


# Run by a foreign interpreter: what it is and where its distributions live.
_FACTS_SCRIPT = """
import json, os, platform, site, sys
folders = list(getattr(site, "getsitepackages", lambda: [])())
if getattr(site, "ENABLE_USER_SITE", False):
    folders.append(site.getusersitepackages())
if not folders:
    folders = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
print(json.dumps({"version": platform.python_version(), "implementation": platform.python_implementation(),
                  "prefix": sys.prefix, "site_folders": [f for f in folders if os.path.isdir(f)]}))
"""


@dataclass
class DetectContext:
    """The python environment being inspected: its interpreter (default: this one) and its name."""

    python: str = field(default_factory=lambda: sys.executable)
    name: str | None = None
    _facts: dict | None = field(default=None, init=False, repr=False, compare=False)
    _cached_facts: dict | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.python = os.path.abspath(os.fspath(self.python))

    @property
    def identity(self) -> str:
        """Names the environment: its bin folder and the interpreter file, symlinks resolved.

        A venv's ``bin/python`` links to the base interpreter, so the file alone would mix them up.
        """
        return f"{os.path.realpath(os.path.dirname(self.python))}\0{os.path.realpath(self.python)}"

    @property
    def is_current(self) -> bool:
        """Whether this is the interpreter running reef (asked in-process, without a subprocess)."""
        return self.identity == _current_identity()

    def facts(self) -> dict:
        """version, implementation, prefix and site_folders of the interpreter (run once, then cached)."""
        with self._lock:
            if self._facts is None:
                self._facts = self._read_facts()
            return self._facts

    def _read_facts(self) -> dict:
        stamp = file_stamp(self.python)
        if self.is_current:
            return {"stamp": stamp, **_current_facts()}
        cached = self._cached_facts
        if cached and cached.get("stamp") == json.loads(json.dumps(stamp)):
            return cached
        if stamp is None:
            raise ReefError(f"{self.python}: no such python interpreter")
        facts = json.loads(self.run_script(_FACTS_SCRIPT, timeout=INTERPRETER_TIMEOUT_S))
        return {"stamp": stamp, **facts}

    def run_script(self, script: str, *arguments: str, timeout: float = INTERPRETER_TIMEOUT_S) -> str:
        """Run python code in the context's interpreter; its stdout (a ReefError when it fails)."""
        try:
            completed = run_tool([self.python, "-c", script, *arguments], timeout, max_bytes=MAX_SCRIPT_OUTPUT_BYTES)
        except OSError as error:
            raise ReefError(f"{self.python}: cannot run this python: {error}") from None
        if completed.timed_out:
            raise ReefError(f"{self.python}: cannot run this python: no answer in {timeout:g} s")
        if completed.cut:
            raise ReefError(
                f"{self.python}: python said more than {format_size(MAX_SCRIPT_OUTPUT_BYTES)}: stopped there"
            )
        if completed.returncode != 0:
            last = (completed.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise ReefError(f"{self.python}: python exited with status {completed.returncode}: {last}")
        return completed.stdout


@lru_cache(maxsize=1)
def _current_identity() -> str:
    return DetectContext(sys.executable).identity


def _current_facts() -> dict:
    import site

    folders = list(getattr(site, "getsitepackages", lambda: [])())
    if getattr(site, "ENABLE_USER_SITE", False):
        folders.append(site.getusersitepackages())
    if not folders:
        folders = [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "prefix": sys.prefix,
        "site_folders": [folder for folder in folders if os.path.isdir(folder)],
    }


class Detector(ABC):
    """One kind of fact about a machine or an environment.

    ``detect`` returns plain JSON-able data. ``signature`` returns JSON-able data that changes when
    the detected facts may have changed (the result is then cached until it does), or None to run
    the detector every time. ``on_request_only`` detectors are expensive: they run only when named.
    Other distributions add detectors under the entry-point group ``reefnb.detectors``.

    Attributes
    ----------
    name : str
        The key of its data in the fingerprint ``reefnb.detect`` returns.
    on_request_only : bool
        Run only when named (an expensive detector).
    """

    name: str = ""
    on_request_only: bool = False

    @abstractmethod
    def detect(self, context: DetectContext) -> Any:
        """The facts, as plain JSON-able data.

        Parameters
        ----------
        context
            The python environment being inspected: its interpreter and its name; ``context.facts()``
            gives the interpreter's version, implementation, prefix and site folders (asked once), and
            ``context.run_script`` runs code in it.

        Returns
        -------
        Any
            Plain JSON-able data; an exception leaves this detector out of the fingerprint (logged).
        """

    def signature(self, context: DetectContext) -> Any:
        """What the detected facts depend on, so that ``detect``'s result can be cached until it changes.

        Parameters
        ----------
        context
            The python environment being inspected.

        Returns
        -------
        Any
            JSON-able data that changes when the detected facts may have changed, or None (the default)
            to run the detector every time.
        """
        return None

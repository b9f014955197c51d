"""The open notebook in JupyterLab as the place a declaration goes (``reefnb.declare.NotebookEditor``).

When ``%load_ext reefnb`` runs in a kernel, it opens a comm to the target ``reef.notebook``. The Reef
JupyterLab extension registers that target on the kernel of every notebook panel and answers
``{"kind": "ready", "path": ...}`` (the notebook's path on the server). From then on, ``%reef require``,
``tool`` and ``artifact`` declaring into the running notebook send its ``metadata.reef`` change as a JSON
merge patch (RFC 7386) on a new comm; the extension applies it to the notebook's model, which JupyterLab
saves with the notebook: no file rewritten under the editor, no reload. Without the extension (JupyterLab
closes the comm, nbclient and VS Code do not answer), or before its answer arrived (the answer is read
when the cell that loaded reefnb has finished), reef rewrites the notebook file as before.

Only the kernel part is here: it needs ``comm`` (ipykernel's), nothing else.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TARGET = "reef.notebook"


def merge_patch(before: Any, after: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``before`` into ``after`` (objects merged, None deletes)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    patch = {key: None for key in before if key not in after}
    for key, value in after.items():
        if key not in before:
            patch[key] = value
        elif before[key] != value:
            patch[key] = merge_patch(before[key], value)
    return patch


class LabEditor:
    """The notebook panels of this kernel in JupyterLab, as the Reef extension reports them."""

    def __init__(self, session_path: str | None = None) -> None:
        self.session_path = session_path  # the running notebook, as the server names it (JPY_SESSION_NAME)
        self.ready = False
        self.answers: list[dict] = []
        self._held: dict[Path, dict] = {}
        self._comms: list = []

    def greet(self) -> None:
        """Ask the front end whether the Reef extension holds this kernel's notebook (answered after this cell)."""
        self._open({"kind": "hello", "path": self.session_path}, self._answered)

    def held(self, notebook: Path) -> dict | None:
        return self._held.get(Path(notebook)) if self.ready else None

    def deliver(self, notebook: Path, before: dict, after: dict) -> bool:
        """Send the change of ``metadata.reef`` to the open notebook; False unless the extension is there."""
        if not self.ready or self.session_path is None:
            return False
        self._held[Path(notebook)] = after
        self._open({"kind": "declare", "path": self.session_path, "patch": merge_patch(before, after)}, self._answered)
        return True

    def _open(self, data: dict, on_message) -> None:
        from comm import create_comm

        comm = create_comm(target_name=TARGET, data=data)
        comm.on_msg(on_message)
        comm.on_close(lambda message: self._comms.remove(comm) if comm in self._comms else None)
        self._comms.append(comm)

    def _answered(self, message: dict) -> None:
        data = (message.get("content") or {}).get("data") or {}
        self.answers.append(data)
        if data.get("kind") == "ready":
            self.ready = True
        elif data.get("kind") == "applied" and not data.get("ok", True):
            log.warning("JupyterLab could not apply a declaration to %s: %s", data.get("path"), data.get("reason", "no such notebook open"))

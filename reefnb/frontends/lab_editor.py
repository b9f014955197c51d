"""The open notebook in JupyterLab as the place a declaration goes (``reefnb.provision.declare.NotebookEditor``).

In a kernel that JupyterLab started for a notebook (``JPY_SESSION_NAME``, and execute requests that
carry a ``cellId``), ``%reef require``, ``tool`` and ``artifact`` declaring into the running notebook send
the change of its ``metadata.reef`` as a JSON merge patch (RFC 7386) on a comm to the target
``reef.notebook``. The Reef JupyterLab extension registers that target on the kernel of every notebook
panel, applies the patch to the notebook's model (saved with the notebook: no file rewritten under the
editor, no reload) and answers ``applied``. Without the extension JupyterLab closes the comm at once; then,
as when the extension answers that it holds no such notebook, reef writes the file after all and the
cell's output says to reload it. The answer is read when the kernel is next free (after the queued cells).

Only the kernel part is here: it needs ``comm`` (ipykernel's), nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
    """The notebook panel of this kernel in JupyterLab, reached through the Reef extension's comm target.

    ``on_refused(notebook, metadata, display_id)`` is called when the front end did not take a declaration
    (no extension, no such notebook open): the caller writes the file then and updates the output
    ``display_id`` (the one ``display_id`` named when the declaration was made) to say so.
    """

    def __init__(
        self,
        session_path: str | None,
        is_lab_request: Callable[[], bool],
        on_refused: Callable[[Path, dict, str | None], None],
    ) -> None:
        self.session_path = session_path  # the running notebook as the server named it (JPY_SESSION_NAME)
        self.is_lab_request = is_lab_request
        self.on_refused = on_refused
        self.answers: list[dict] = []
        self.display_id: str | None = None
        self._held: dict[Path, dict] = {}

    def held(self, notebook: Path) -> dict | None:
        return self._held.get(Path(notebook))

    def deliver(self, notebook: Path, before: dict, after: dict) -> bool:
        """Send the change of ``metadata.reef`` to the open notebook; False when this is not JupyterLab's kernel."""
        if self.session_path is None or not self.is_lab_request():
            return False
        from comm import create_comm

        notebook = Path(notebook)
        self._held[notebook] = after
        comm = create_comm(
            target_name=TARGET, data={"kind": "declare", "path": self.session_path, "patch": merge_patch(before, after)}
        )
        state = {"answered": False}
        display_id = self.display_id

        def answered(message: dict) -> None:
            data = (message.get("content") or {}).get("data") or {}
            self.answers.append(data)
            state["answered"] = True
            if not data.get("ok"):
                self._refused(notebook, after, display_id, data.get("reason") or "the notebook is not open")

        def closed(message: dict) -> None:
            if not state["answered"]:  # JupyterLab closes a comm whose target nobody registered: no Reef extension
                state["answered"] = True
                self._refused(notebook, after, display_id, "the Reef JupyterLab extension is not loaded")

        comm.on_msg(answered)
        comm.on_close(closed)
        return True

    def _refused(self, notebook: Path, metadata: dict, display_id: str | None, reason: str) -> None:
        log.info("JupyterLab did not take the declaration for %s (%s): writing the file", notebook, reason)
        self._held.pop(notebook, None)
        self.on_refused(notebook, metadata, display_id)

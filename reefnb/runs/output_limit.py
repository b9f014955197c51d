"""Bounded cell output: what a cell shows beyond a limit is dropped, and a marker says how much.

nbclient keeps every output message of a run in memory and papermill writes them all into the
executed notebook: a cell printing 200 MB made ``reef run`` peak near 900 MB and wrote a 200 MB
notebook. The executor asks an :class:`OutputBudget` before keeping each output message. Metrics
recorded with ``reefnb.record`` and files named by ``reefnb.attach`` (the run's evidence) have a budget of
their own, so they are read even after a flood.
"""

from __future__ import annotations

import json
import os

from nbformat.v4 import new_output

from reefnb.common.units import parse_size
from reefnb.kernel.recording import ATTACH_MIME, RECORD_MIME

EVIDENCE_MIMES = (RECORD_MIME, ATTACH_MIME)  # outputs with a budget of their own

MAX_CELL_OUTPUT = 10 * 2**20
MAX_CELL_OUTPUT_VARIABLE = "REEF_MAX_CELL_OUTPUT"
# Room for the kernel's own marker: what the kernel keeps plus its marker must fit the client's budget.
MARKER_ROOM = 4096

# Run silently in an IPython kernel, formatted with the limit: the kernel itself drops what a cell
# writes (stdout, stderr, displays, its result) beyond the limit, so that a flood never crosses
# the wire (one 200 MB stream message alone would take 600 MB to receive and decode). Records and
# attachments (EVIDENCE_MIMES) have a budget of their own. The
# client's OutputBudget stays as the bound for any other kernel.
KERNEL_LIMIT = r"""
def __reef_limit_output(limit, evidence_mimes):
    import sys
    import threading
    from IPython import get_ipython

    shell = get_ipython()
    # limited already: only the limit changes, nothing wraps twice
    if getattr(shell, "_reef_output_limit", None) is not None:
        shell._reef_output_limit["limit"] = limit
        return
    state = shell._reef_output_limit = {"limit": limit, "kept": 0, "records": 0, "dropped": 0}
    writing = threading.local()

    def fits(size, key="kept"):
        if state[key] + size <= state["limit"]:
            state[key] += size
            return True
        state["dropped"] += size
        return False

    def cap_stream(stream):
        # At every cell's start, around the stream's write of the moment; returns the write it wraps.
        # IPython 9 wraps write per cell and puts its own back after it, IPython 8 leaves ours in place:
        # a write of ours is never wrapped again, and one called under another of ours passes the text on.
        write = stream.write
        if getattr(write, "reef_capped", False):
            return write.reef_write

        def capped(text):
            if getattr(writing, "now", False):
                return write(text)
            writing.now = True
            try:
                room = state["limit"] - state["kept"]
                if len(text) <= room:
                    state["kept"] += len(text)
                    return write(text)
                if room > 0:
                    write(text[:room])
                    state["kept"] = state["limit"]
                state["dropped"] += len(text) - max(room, 0)
                return len(text)
            finally:
                writing.now = False
        capped.reef_capped, capped.reef_write = True, write
        try:
            stream.write = capped
        except (AttributeError, TypeError):  # a stream the cell put there, whose write is read-only
            pass
        return write

    def size(data):
        return sum(len(value) if isinstance(value, str) else len(repr(value)) for value in (data or {}).values())

    def cap_publish(publish):
        def capped(data, *args, **kwargs):
            evidence = any(mime in (data or {}) for mime in evidence_mimes)
            if fits(size(data), "records" if evidence else "kept"):
                return publish(data, *args, **kwargs)
        return capped

    def cap_result(write_format_data):
        def capped(format_dict, *args, **kwargs):
            return write_format_data(format_dict if fits(size(format_dict)) else {}, *args, **kwargs)
        return capped

    def reset(*_):
        state.update(kept=0, records=0, dropped=0, write=cap_stream(sys.stderr))
        cap_stream(sys.stdout)

    def mark(*_):
        if state["dropped"]:
            sys.stdout.flush()
            state["write"](f"\n[reef: {state['dropped'] / 2**20:.1f} MB of output dropped (the limit is "
                           f"{state['limit'] / 2**20:.1f} MB per cell: reef run --max-output, REEF_MAX_CELL_OUTPUT)]\n")
            sys.stderr.flush()

    shell.display_pub.publish = cap_publish(shell.display_pub.publish)
    shell.displayhook.write_format_data = cap_result(shell.displayhook.write_format_data)
    shell.events.register("pre_run_cell", reset)
    shell.events.register("post_run_cell", mark)
"""


def kernel_limit_code(limit: int) -> str:
    """The code that makes an IPython kernel keep at most ``limit`` bytes of each cell's output."""
    return f"{KERNEL_LIMIT}\n__reef_limit_output({limit}, {EVIDENCE_MIMES!r})\ndel __reef_limit_output\n"


def cell_output_limit(value: int | str | None = None) -> int:
    """Bytes of output kept per cell: ``value`` (bytes, or a size such as ``10M``), else
    ``$REEF_MAX_CELL_OUTPUT``, else 10 MiB."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if value is not None:
        return parse_size(str(value), "--max-output")
    configured = os.environ.get(MAX_CELL_OUTPUT_VARIABLE, "").strip()
    return parse_size(configured, MAX_CELL_OUTPUT_VARIABLE) if configured else MAX_CELL_OUTPUT


def output_size(content: dict) -> int:
    """About how many bytes an output message's content adds to the notebook (characters of its text)."""
    if "text" in content:
        return _size(content["text"])
    return _size(content.get("data")) + _size(content.get("traceback")) + _size(content.get("evalue"))


def _size(value) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(len(key) + _size(item) for key, item in value.items())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return sum(map(len, value))
    return len(json.dumps(value, default=str))


def _megabytes(count: int) -> str:
    return f"{count / 2**20:.1f} MB"


class OutputBudget:
    """What one run keeps of each cell's output: at most ``limit``
    bytes, and as much again for records and attachments."""

    def __init__(self, limit: int):
        self.limit = limit
        self.bound = limit + MARKER_ROOM  # an IPython kernel keeps ``limit`` itself, then adds its marker
        self.cell: int | None = None
        self.kept = self.records = self.dropped = 0
        self.marker = None  # the stream output that tells how much was dropped

    def admit(self, outputs: list, message: dict, cell_index: int, clearing: bool) -> bool:
        """Whether to keep this output message; a stream's text may be cut to what fits."""
        if cell_index != self.cell or clearing or not outputs:  # a new cell, or its outputs are (being) cleared
            self.cell, self.kept, self.records, self.dropped, self.marker = cell_index, 0, 0, 0, None
        if message.get("msg_type") not in ("stream", "display_data", "execute_result", "error"):
            return True
        content = message.get("content") or {}
        size = output_size(content)
        if any(mime in (content.get("data") or {}) for mime in EVIDENCE_MIMES):
            if self.records + size <= self.bound:
                self.records += size
                return True
        elif self.kept + size <= self.bound:
            self.kept += size
            return True
        elif message["msg_type"] == "stream" and isinstance(content.get("text"), str) and self.kept < self.bound:
            room = self.bound - self.kept
            content["text"] = content["text"][:room]
            self.kept = self.bound
            self.dropped += size - room
            return True
        self.dropped += size
        return False

    def mark(self, outputs: list) -> None:
        """Add (or bring up to date) the marker of what this cell dropped."""
        if not self.dropped:
            return
        text = (
            f"\n[reef: {_megabytes(self.dropped)} of output dropped (the limit is {_megabytes(self.limit)} per cell: "
            f"reef run --max-output, {MAX_CELL_OUTPUT_VARIABLE})]\n"
        )
        if self.marker is None:
            self.marker = new_output("stream", name="stderr", text=text)
            outputs.append(self.marker)
        else:
            self.marker["text"] = text

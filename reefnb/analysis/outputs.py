"""What a notebook shows, compared: the recorded run's executed notebook against a rerun's, cell by cell.

Most notebooks record no metric: their results are what they print and display. ``compare_notebooks``
pairs the code cells of the two notebooks (by cell id when both have ids, else by position; papermill's
``injected-parameters`` cell left out) and their outputs by position, and compares each output by kind:

- ``stream`` and ``text/plain``: text, its numbers compared numerically under a tolerance (relative
  1e-6, absolute 1e-9 by default), the rest exactly but for runs of blanks;
- ``text/html`` holding tables (pandas frames): parsed and compared value by value, a difference named
  by its row label and column; other HTML as text;
- ``application/json`` and the other JSON types: structurally, numbers under the tolerance;
- ``image/png`` and ``image/jpeg``: decoded and compared by SSIM (scikit-image), against a threshold
  (0.98 by default); images of different sizes differ;
- ``error``: its name and message.

Volatile content is masked first, as nbval's sanitizers do (regular expressions and their
replacements): object addresses, dates and times, the durations ``%time`` and ``%timeit`` print,
temporary paths, progress bars, process and kernel ids, the scrubber's placeholders. An output left
with nothing else is volatile, not compared, and so are the outputs of a cell tagged ``reef-volatile``
(or nbval's ``nbval-ignore-output``). Widget views are compared by their text fallback (the model id
changes every run); reef's metric records are not outputs (metrics are judged apart). A cell's
``stderr`` is compared as one text, apart from its other outputs: when it is written against stdout
changes from run to run, and what a library says once per machine (a font cache being built, a
warning) is masked.

``differences_html`` shows the differing cells as nbdime's diff shows them (nbdime is the Jupyter
project's notebook diff), in a self-contained HTML fragment for the reproduce report.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import html
import io
import json
import math
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ManifestError
from reefnb.kernel.recording import ATTACH_MIME, RECORD_MIME

REPRODUCED, NOT_REPRODUCED, NOTHING_COMPARED = "reproduced", "not reproduced", "nothing compared"
SAME, DIFFERENT, VOLATILE, MISSING, EXTRA = "same", "different", "volatile", "missing", "extra"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
VOLATILE_TAGS = ("reef-volatile", "nbval-ignore-output", "nbval-skip")
SKIPPED_TAGS = ("injected-parameters", "papermill-error-cell-tag")  # cells papermill writes, not the author
NOT_OUTPUTS = (RECORD_MIME, ATTACH_MIME)  # reef's metric records and attachments: judged apart
IMAGE_MIMES = ("image/png", "image/jpeg")
# The view of a display output compared, best first: the recorded output's first one present is compared.
_PREFERRED = (
    "image/png",
    "image/jpeg",
    "text/html",
    "application/json",
    "text/plain",
    "text/markdown",
    "text/latex",
    "image/svg+xml",
)
_LONGEST_SHOWN = 60  # characters of a line quoted in a first difference
_LARGEST_IMAGE_SHOWN = 2_000_000  # base64 characters of an image drawn in the HTML differences

# Volatile content, masked before comparing: (what, pattern, replacement, triggers). A mask runs on a text
# holding one of its triggers (plain substrings, or _CLOCK: a digit, ':' and two digits), so most text is
# scanned once per trigger, not once per pattern. Order matters: a progress bar holds times, a %timeit line
# durations, an ISO date-time a time.
_CLOCK = None
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DEFAULT_MASKS: tuple[tuple[str, str, str, tuple[str, ...] | None], ...] = (
    ("progress bar (tqdm)", r"(?m)^.*\d+%\|.*$", "<progress>", ("%|",)),
    ("progress bar (Keras)", r"(?m)^\s*\d+/\d+ (?:\[[=>.]*\]|━+).*$", "<progress>", ("━", "=]", ">.", "[.")),
    ("%timeit", r"(?m)^.* ± .* per loop \(mean ± std\. dev\. of .*\)$", "<duration>", ("±",)),
    ("%timeit (old)", r"(?m)^.*loops?, best of \d+: .* per loop$", "<duration>", ("best of",)),
    (
        "%time and %%time",
        r"(?m)^(?:CPU times|Wall time|Elapsed time|Time taken): .*$",
        "<duration>",
        ("CPU times", "Wall time", "Elapsed time", "Time taken"),
    ),
    ("datetime repr", r"datetime\.(?:datetime|date|time)\((?:[^()]|\([^()]*\))*\)", "<datetime>", ("datetime.",)),
    (
        "ISO date and time",
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}\b)?",
        "<datetime>",
        _CLOCK,
    ),
    (
        "ctime date",
        rf"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) {_MONTH} [ \d]\d \d{{2}}:\d{{2}}:\d{{2}}(?: [A-Z]{{3,5}})? \d{{4}}\b",
        "<datetime>",
        _CLOCK,
    ),
    ("common log date", rf"\b\d{{2}}/{_MONTH}/\d{{4}}:\d{{2}}:\d{{2}}:\d{{2}} [+-]\d{{4}}\b", "<datetime>", _CLOCK),
    ("clock time", r"(?<![\d:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\d:])", "<time>", _CLOCK),
    ("object address", r"\bat 0x[0-9a-fA-F]+\b", "at <address>", ("0x",)),
    ("address", r"\b0x[0-9a-fA-F]{8,16}\b", "<address>", ("0x",)),
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>", ("-",)),
    ("element id", r"(?<=[-_])[0-9a-f]{32}\b", "<id>", ("-", "_")),  # altair-viz-HEX, uuid4().hex
    ("pandas Styler id", r"\bT_[0-9a-f]{5}(?![0-9a-z])", "T_<id>", ("T_",)),
    (
        "temporary path",
        r"(?:/private)?/(?:tmp|var/tmp|var/folders/[^\s'\"<>]*?/T)/[^\s'\"<>(),;]*",
        "<tmp>",
        ("/tmp/", "/var/"),
    ),
    (
        "temporary path (Windows)",
        r"[A-Za-z]:\\(?:Users\\[^\\\s]+\\AppData\\Local\\Temp|Windows\\Temp)\\[^\s'\"<>(),;]*",
        "<tmp>",
        ("\\Temp\\",),
    ),
    ("temporary name", r"\btmp[a-z0-9_]{8}\b", "<tmp>", ("tmp",)),
    ("kernel connection file", r"\bkernel-[\w-]+\.json\b", "kernel-<id>.json", ("kernel-",)),
    (
        "process id",
        r"\b(pid|PID|process|Process|process id|Process ID)([ =:#]+)\d+\b",
        r"\1\2<pid>",
        ("pid", "PID", "rocess"),
    ),
    ("Python warning", r"(?m)^\S[^\n]*:\d+: \w*Warning: [^\n]*(?:\n[ \t]+[^\n]*)?$", "<warning>", ("Warning: ",)),
    (
        "matplotlib font cache",
        r"(?m)^Matplotlib is building the font cache; this may take a moment\.$",
        "<cache>",
        ("Matplotlib is building",),
    ),
    ("scrubbed text", r"<redacted>|<user>|<host>", r"\g<0>", ("<redacted>", "<user>", "<host>")),
)
_CLOCK_SHAPE = re.compile(r"\d:\d\d")
_PLACEHOLDERS = ("<redacted>", "<user>", "<host>")  # the scrubber's: stand for any one word on the other side
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BLANKS = re.compile(r"[ \t]+")
_BLANKS_AT_LINE_ENDS = re.compile(r" ?\n ?")
# A number, not a part of a word or of a version (3.11.7, 127.0.0.1 stay text)
_NUMBER = re.compile(r"((?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]|\.\d))")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class OutputSettings:
    """How outputs are compared: the tolerance of numbers, the SSIM threshold of images, extra masks and tags.

    Attributes
    ----------
    rel_tolerance, abs_tolerance
        Two numbers are the same when ``math.isclose(a, b, rel_tol=rel_tolerance, abs_tol=abs_tolerance)``.
    image_similarity
        Two images of the same size are the same when their SSIM is at least this (0..1).
    masks
        Extra ``(pattern, replacement)`` regular expressions applied after the default ones, as nbval's
        sanitizers are (``re.sub``: the replacement may name groups, ``\\1``).
    volatile_tags
        Extra cell tags whose outputs are volatile (besides ``reef-volatile``, ``nbval-ignore-output``
        and ``nbval-skip``).
    compare
        False: outputs are not compared at all (the manifest's ``outputs.compare``).
    """

    rel_tolerance: float = 1e-6
    abs_tolerance: float = 1e-9
    image_similarity: float = 0.98
    masks: tuple[tuple[str, str], ...] = ()
    volatile_tags: tuple[str, ...] = ()
    compare: bool = True

    @classmethod
    def from_manifest(cls, data: dict, manifest_path: str | Path) -> OutputSettings:
        """The settings of a manifest's top-level ``outputs`` object (defaults for what it leaves out).

        Raises
        ------
        ManifestError
            A mask that is not a regular expression (or whose replacement names a group it lacks), one
            line naming the manifest and ``/outputs/masks/N``.
        """
        outputs = data.get("outputs") or {}
        tolerance = outputs.get("tolerance") or {}
        masks = []
        for number, mask in enumerate(outputs.get("masks") or []):
            pattern, replacement = mask.get("pattern", ""), mask.get("replace", "<masked>")
            try:
                re.compile(pattern).sub(replacement, "")  # compiles the replacement's template too
            except (re.error, TypeError) as error:
                raise ManifestError(
                    [
                        f"{manifest_path}: /outputs/masks/{number}: {pattern!r} is not a regular expression "
                        f"with its replacement ({error})"
                    ]
                ) from None
            masks.append((pattern, replacement))
        defaults = cls()
        return cls(
            rel_tolerance=float(tolerance.get("rel", defaults.rel_tolerance)),
            abs_tolerance=float(tolerance.get("abs", defaults.abs_tolerance)),
            image_similarity=float(outputs.get("image_similarity", defaults.image_similarity)),
            masks=tuple(masks),
            volatile_tags=tuple(outputs.get("volatile_tags") or ()),
            compare=bool(outputs.get("compare", True)),
        )


DEFAULT_MASKS: tuple[tuple[str, str], ...] = tuple((what, pattern) for what, pattern, _, _ in _DEFAULT_MASKS)
_COMPILED_DEFAULTS = tuple(
    (re.compile(pattern), replacement, triggers) for _, pattern, replacement, triggers in _DEFAULT_MASKS
)
_DEFAULT_PLACEHOLDERS = (
    "<progress>",
    "<duration>",
    "<datetime>",
    "<time>",
    "<address>",
    "<uuid>",
    "<id>",
    "<tmp>",
    "<pid>",
    "<warning>",
    "<cache>",
    *_PLACEHOLDERS,
)


class _Masker:
    """The masks of one comparison, compiled once: text in, (masked text, whether anything was volatile) out."""

    def __init__(self, settings: OutputSettings):
        extra = [(re.compile(pattern), replacement, ("",)) for pattern, replacement in settings.masks]
        self.masks = [*_COMPILED_DEFAULTS, *extra]
        self.placeholders = [*_DEFAULT_PLACEHOLDERS, *(replacement for _, replacement in settings.masks if replacement)]
        self.html_masks = [(pattern, _escaped(replacement), triggers) for pattern, replacement, triggers in self.masks]

    def text(self, text: str, for_html: bool = False) -> tuple[str, bool]:
        text = _ANSI.sub("", text.replace("\r\n", "\n"))
        masked = False
        if "\r" in text:  # a progress bar redrawn in place: only its final state
            text = "\n".join(_final_state(line) for line in text.split("\n"))
            masked = True
        clock = None
        for pattern, replacement, triggers in self.html_masks if for_html else self.masks:
            if triggers is _CLOCK:
                clock = bool(_CLOCK_SHAPE.search(text)) if clock is None else clock
                if not clock:
                    continue
            elif not any(trigger in text for trigger in triggers):
                continue
            text, count = pattern.subn(replacement, text)
            masked = masked or count > 0
        return text, masked

    def only_volatile(self, masked_text: str) -> bool:
        """Nothing but placeholders, blanks and punctuation is left: nothing to compare."""
        for placeholder in self.placeholders:
            masked_text = masked_text.replace(placeholder, "")
        return not _WORD.search(masked_text)


def _escaped(replacement: str):
    """A replacement whose result is written into HTML: its ``<placeholder>`` escaped, so it stays text."""
    return lambda match: html.escape(match.expand(replacement), quote=False)


def _final_state(line: str) -> str:
    parts = [part for part in line.split("\r") if part.strip()]
    return parts[-1] if parts else ""


# --- the comparison --------------------------------------------------------------------------------


def compare_notebooks(recorded: Any, reproduced: Any, settings: OutputSettings | None = None) -> dict:
    """Compare what the rerun's notebook shows with what the recorded run's showed, cell by cell.

    Parameters
    ----------
    recorded, reproduced
        The two executed notebooks (nbformat ``NotebookNode`` or dicts as read from JSON). The
        reproduced one is scrubbed with the same scrubber as the recorded one was.
    settings
        Tolerances, the image threshold, extra masks and volatile tags (default: ``OutputSettings()``).

    Returns
    -------
    dict
        JSON-able: ``compared`` (outputs compared), ``volatile`` (outputs with volatile content: masked
        before comparing, or not compared at all), ``differences`` (one per differing output: ``cell``,
        ``output``, ``kind``, ``first``, a line naming the first difference, and for tables ``row``,
        ``column``, for images ``similarity``), ``code_changed`` (indices of code cells whose source
        differs), ``cells`` (per cell: its outputs with ``kind`` and ``verdict``), ``verdict``
        (``reproduced``, ``not reproduced`` or ``nothing compared``). Cell indices count every cell of the
        notebook but papermill's injected-parameters cell, from 0.
    """
    settings = settings or OutputSettings()
    masker = _Masker(settings)
    tags = {*VOLATILE_TAGS, *settings.volatile_tags}
    cells, code_changed = [], []
    for index, left, right in _pair_cells(recorded, reproduced):
        if _source(left) != _source(right):
            code_changed.append(index)
        if not settings.compare:
            continue
        outputs = _compare_cell(index, left, right, masker, settings, tags)
        if outputs:
            entry: dict[str, Any] = {"cell": index, "outputs": outputs}
            if left is None or right is None:
                entry["only_in"] = _only_in(left)
            cell_id = (left or right).get("id")
            if cell_id:
                entry["cell_id"] = cell_id
            if index in code_changed:
                entry["code_changed"] = True
            cells.append(entry)
    every = [output for cell in cells for output in cell["outputs"]]
    differences = [_difference(output) for output in every if output["verdict"] in (DIFFERENT, MISSING, EXTRA)]
    compared = sum(output["verdict"] in (SAME, DIFFERENT) for output in every)
    volatile = sum(output["verdict"] == VOLATILE or output.get("masked", False) for output in every)
    verdict = NOT_REPRODUCED if differences else REPRODUCED if compared else NOTHING_COMPARED
    result = {
        "compared": compared,
        "volatile": volatile,
        "differences": differences,
        "code_changed": code_changed,
        "cells": cells,
        "verdict": verdict,
        "settings": {
            "rel_tolerance": settings.rel_tolerance,
            "abs_tolerance": settings.abs_tolerance,
            "image_similarity": settings.image_similarity,
            "masks": [list(mask) for mask in settings.masks],
        },
    }
    if not settings.compare:
        result["skipped"] = "the manifest's outputs.compare is false"
    return result


def _difference(output: dict) -> dict:
    keys = ("cell", "only_in", "output", "kind", "first", "row", "column", "recorded", "reproduced", "similarity")
    return {key: output[key] for key in keys if key in output}


def _pair_cells(recorded: Any, reproduced: Any) -> list[tuple[int, dict | None, dict | None]]:
    """Code cells paired: ``(index, recorded cell, reproduced cell)``. When both notebooks give every cell
    a distinct id, cells are paired by id (a cell an evaluator inserted is not taken for the next one), and
    a cell whose id the other notebook lacks with the next unpaired cell there whose id this one lacks;
    else by position. ``index`` is the recorded cell's, or the reproduced one's for a cell only it has."""
    left, right = _author_cells(recorded), _author_cells(reproduced)
    left_ids, right_ids = [cell.get("id") for cell in left], [cell.get("id") for cell in right]
    distinct = (
        all(left_ids)
        and all(right_ids)
        and len(set(left_ids)) == len(left_ids)
        and len(set(right_ids)) == len(right_ids)
    )
    if not distinct:
        pairs = [(index, _at(left, index), _at(right, index)) for index in range(max(len(left), len(right)))]
    else:
        positions, known = {cell_id: position for position, cell_id in enumerate(right_ids)}, set(left_ids)
        pairs, paired, following = [], set(), 0
        for index, cell in enumerate(left):
            position = positions.get(cell["id"])
            if (
                position is None
                and following < len(right)
                and right_ids[following] not in known
                and following not in paired
            ):
                position = following
            if position is not None:
                paired.add(position)
                following = position + 1
            pairs.append((index, cell, _at(right, position)))
        pairs += [(position, None, cell) for position, cell in enumerate(right) if position not in paired]
        pairs.sort(key=lambda pair: pair[0])
    return [(index, one, other) for index, one, other in pairs if _is_code(one) or _is_code(other)]


def _at(cells: list[dict], position: int | None) -> dict | None:
    return cells[position] if position is not None and position < len(cells) else None


def _author_cells(notebook: Any) -> list[dict]:
    return [cell for cell in notebook.get("cells", []) if not set(_tags(cell)) & set(SKIPPED_TAGS)]


def _is_code(cell: dict | None) -> bool:
    return cell is not None and cell.get("cell_type") == "code"


def _tags(cell: dict | None) -> list[str]:
    tags = ((cell or {}).get("metadata") or {}).get("tags") or []
    return [tag for tag in tags if isinstance(tag, str)]


def _source(cell: dict | None) -> str | None:
    return None if cell is None else _joined(cell.get("source", "")).rstrip()


def _joined(value: Any) -> str:
    """nbformat keeps multiline strings as they were read: a string or a list of lines."""
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return value if isinstance(value, str) else str(value)


def _compare_cell(
    index: int, left: dict | None, right: dict | None, masker: _Masker, settings: OutputSettings, tags: set
) -> list[dict]:
    ours, theirs = _outputs(left), _outputs(right)
    if set(_tags(left)) & tags or set(_tags(right)) & tags:
        return [
            {"cell": index, "output": position, "kind": _kind(output), "verdict": VOLATILE}
            for position, output in (ours or theirs)
        ]
    results = []
    for position in range(max(len(ours), len(theirs))):
        if position >= len(theirs):
            output_index, output = ours[position]
            result = _one_sided(index, output_index, output, masker, MISSING)
        elif position >= len(ours):
            output_index, output = theirs[position]
            result = _one_sided(index, output_index, output, masker, EXTRA)
        else:
            output_index, output = ours[position]
            result = {
                "cell": index,
                "output": output_index,
                **_compare_output(output, theirs[position][1], masker, settings),
            }
        if left is None or right is None:
            result["only_in"] = _only_in(left)
        if "first" in result:
            where = f" (only in the {result['only_in']} notebook)" if "only_in" in result else ""
            result["first"] = f"cell {index}{where}, {result['kind']}: {result['first']}"
        results.append(result)
    return results


def _only_in(left: dict | None) -> str:
    """Which notebook has a cell the other lacks: its index is that notebook's."""
    return "rerun's" if left is None else "recorded"


def _one_sided(index: int, output_index: int, output: dict, masker: _Masker, verdict: str) -> dict:
    """An output only one run has: a difference, unless nothing but volatile content is in it."""
    kind = _kind(output)
    text = _plain_text(output)
    if text is not None and masker.only_volatile(masker.text(text)[0]):
        return {"cell": index, "output": output_index, "kind": kind, "verdict": VOLATILE}
    side = "the recorded run showed" if verdict == MISSING else "the rerun shows"
    only = "only" if verdict == EXTRA else "but the rerun does not"
    first = f"{side} {_describe(output)} {only}".rstrip()
    return {"cell": index, "output": output_index, "kind": f"{verdict} output", "verdict": verdict, "first": first}


def _outputs(cell: dict | None) -> list[tuple[int, dict]]:
    """A cell's outputs as compared, with their index in the cell: records left out, stdout pieces
    joined, stderr joined into one output at the end."""
    if cell is None:
        return []
    found: list[tuple[int, dict]] = []
    errors: tuple[int, dict] | None = None
    for position, output in enumerate(cell.get("outputs") or []):
        if any(mime in (output.get("data") or {}) for mime in NOT_OUTPUTS):
            continue
        if output.get("output_type") == "stream":
            text = _joined(output.get("text", ""))
            if output.get("name") == "stderr":
                errors = (
                    (errors[0], {**errors[1], "text": errors[1]["text"] + text})
                    if errors
                    else (position, {"output_type": "stream", "name": "stderr", "text": text})
                )
                continue
            previous = found[-1][1] if found else None
            if previous and previous.get("output_type") == "stream":
                found[-1] = (found[-1][0], {**previous, "text": previous["text"] + text})
                continue
            output = {"output_type": "stream", "name": output.get("name", "stdout"), "text": text}
        found.append((position, output))
    return found + ([errors] if errors else [])


def _kind(output: dict) -> str:
    output_type = output.get("output_type")
    if output_type == "stream":
        return "stream"
    if output_type == "error":
        return "error"
    mime = _chosen_mime(output.get("data") or {})
    if mime is None:
        return output_type or "output"
    return _mime_kind(mime, (output.get("data") or {}).get(mime))


def _chosen_mime(data: dict) -> str | None:
    """The view of a display output that is compared: a widget by its text, else the richest known view."""
    if WIDGET_MIME in data:
        return "text/plain" if "text/plain" in data else None
    for mime in _PREFERRED:
        if mime in data:
            return mime
    json_mimes = sorted(mime for mime in data if mime.endswith("+json") and mime not in NOT_OUTPUTS)
    if json_mimes:
        return json_mimes[0]
    return min(data) if data else None


def _mime_kind(mime: str, value: Any) -> str:
    if mime == "text/html" and "<table" in _joined(value).lower():
        return "table"
    if mime == "application/json" or (mime.endswith("+json") and mime != WIDGET_MIME):
        return "json"
    return mime


def _describe(output: dict) -> str:
    """An output in a few words, for a first difference."""
    kind = output.get("output_type")
    if kind == "stream":
        text = _joined(output.get("text", "")).strip().splitlines()
        return f"{output.get('name', 'stdout')} {_quoted(text[0]) if text else '(empty)'}"
    if kind == "error":
        return f"an error {output.get('ename', '')}: {_shortened(_joined(output.get('evalue', '')))}"
    data = output.get("data") or {}
    mime = _chosen_mime(data)
    if mime is None:
        return "a widget" if WIDGET_MIME in data else "an empty output"
    plain = _joined(data.get("text/plain", "")).strip().splitlines()
    return f"{mime} {_quoted(plain[0])}" if plain else mime


def _plain_text(output: dict) -> str | None:
    """The text of an output that is only text (a stream, text/plain), None for the others."""
    if output.get("output_type") == "stream":
        return _joined(output.get("text", ""))
    data = output.get("data") or {}
    if _chosen_mime(data) == "text/plain":
        return _joined(data["text/plain"])
    return None


def _compare_output(left: dict, right: dict, masker: _Masker, settings: OutputSettings) -> dict:
    """One output pair: ``kind``, ``verdict``, ``masked``, and ``first`` (with details) when they differ."""
    left_type, right_type = left.get("output_type"), right.get("output_type")
    kind = _kind(left)
    display = ("display_data", "execute_result")
    if left_type != right_type and not (left_type in display and right_type in display):
        return {
            "kind": kind,
            "verdict": DIFFERENT,
            "first": f"the recorded run showed {_describe(left)}, the rerun {_describe(right)}",
        }
    if left_type == "stream":
        if left.get("name") != right.get("name"):
            return {
                "kind": kind,
                "verdict": DIFFERENT,
                "first": f"recorded on {left.get('name')}, the rerun on {right.get('name')}",
            }
        return _compare_texts(kind, _joined(left.get("text", "")), _joined(right.get("text", "")), masker, settings)
    if left_type == "error":
        ours = f"{left.get('ename', '')}: {_joined(left.get('evalue', ''))}"
        theirs = f"{right.get('ename', '')}: {_joined(right.get('evalue', ''))}"
        return _compare_texts(kind, ours, theirs, masker, settings)
    return _compare_bundles(left.get("data") or {}, right.get("data") or {}, masker, settings)


def _compare_bundles(left: dict, right: dict, masker: _Masker, settings: OutputSettings) -> dict:
    mime = _chosen_mime(left)
    if mime is None:
        return {"kind": "widget" if WIDGET_MIME in left else "output", "verdict": VOLATILE}
    kind = _mime_kind(mime, left[mime])
    theirs = right.get(mime) if WIDGET_MIME not in left or WIDGET_MIME in right else None
    if theirs is None:
        shown = ", ".join(sorted(right)) or "nothing"
        return {"kind": kind, "verdict": DIFFERENT, "first": f"the rerun shows no {mime} (it shows {shown})"}
    ours = left[mime]
    if mime in IMAGE_MIMES:
        return {"kind": kind, **_compare_images(_joined(ours), _joined(theirs), settings)}
    if kind == "table":
        return {"kind": kind, **_compare_html_tables(_joined(ours), _joined(theirs), masker, settings)}
    if kind == "json":
        return {"kind": kind, **_compare_json_values(ours, theirs, masker, settings)}
    return _compare_texts(
        kind, _joined(ours), _joined(theirs), masker, settings, for_html=mime in ("text/html", "image/svg+xml")
    )


# --- text ------------------------------------------------------------------------------------------


def _compare_texts(
    kind: str, left: str, right: str, masker: _Masker, settings: OutputSettings, for_html: bool = False
) -> dict:
    ours, left_masked = masker.text(left, for_html)
    theirs, right_masked = masker.text(right, for_html)
    masked = left_masked or right_masked
    if masked and masker.only_volatile(ours) and masker.only_volatile(theirs):
        return {"kind": kind, "verdict": VOLATILE}
    first = _text_difference(ours, theirs, settings)
    result = {"kind": kind, "verdict": DIFFERENT if first else SAME, "masked": masked}
    if first:
        result["first"] = first
    return result


def _normalised(text: str) -> str:
    return _BLANKS_AT_LINE_ENDS.sub("\n", _BLANKS.sub(" ", text)).strip()


def _text_difference(left: str, right: str, settings: OutputSettings) -> str | None:
    """None when the texts are the same (numbers within the tolerance), else the first difference in a line."""
    left, right = _normalised(left), _normalised(right)
    if left == right:
        return None
    ours, theirs = _NUMBER.split(left), _NUMBER.split(right)
    line = 1
    for position in range(min(len(ours), len(theirs))):
        one, other = ours[position], theirs[position]
        if position % 2:  # a number
            if one != other and not _close(float(one), float(other), settings):
                before = "".join(ours[:position]).rsplit("\n", 1)[-1].lstrip()[-40:]
                return f"line {line}: {before}{one} != {other}"
        elif one != other and not _same_words(one, other):
            return _line_difference(left, right, line + _first_difference(one, other)[0])
        line += one.count("\n")
    return None if len(ours) == len(theirs) else _line_difference(left, right, line)


def _close(one: float, other: float, settings: OutputSettings) -> bool:
    return math.isclose(one, other, rel_tol=settings.rel_tolerance, abs_tol=settings.abs_tolerance)


def _same_words(one: str, other: str) -> bool:
    """Text pieces that differ only where the scrubber wrote a placeholder on one side."""
    if not any(placeholder in one or placeholder in other for placeholder in _PLACEHOLDERS):
        return False
    pattern, text = (one, other) if any(placeholder in one for placeholder in _PLACEHOLDERS) else (other, one)
    expression = re.escape(pattern)
    for placeholder in _PLACEHOLDERS:
        expression = expression.replace(re.escape(placeholder), r"[^\s/\\'\"]*")
    return re.fullmatch(expression, text) is not None


def _first_difference(one: str, other: str) -> tuple[int, int]:
    """(lines before, character in its line) of the first character that differs."""
    position = next(
        (at for at, (a, b) in enumerate(zip(one, other, strict=False)) if a != b), min(len(one), len(other))
    )
    return one.count("\n", 0, position), position - (one.rfind("\n", 0, position) + 1)


def _line_difference(left: str, right: str, line: int) -> str:
    """The first line from ``line`` on that differs, quoted from both texts."""
    ours, theirs = left.split("\n"), right.split("\n")
    while line <= min(len(ours), len(theirs)) and ours[line - 1] == theirs[line - 1]:
        line += 1
    one = ours[line - 1] if line <= len(ours) else None
    other = theirs[line - 1] if line <= len(theirs) else None
    if one is None or other is None:
        ended = "the recorded text" if one is None else "the rerun's text"
        return f"line {line}: {ended} has no such line ({_quoted(one if one is not None else other)} on the other side)"
    column = _first_difference(one, other)[1]
    return f"line {line}: {_quoted(_window(one, column))} != {_quoted(_window(other, column))}"


def _window(text: str, column: int) -> str:
    if len(text) <= _LONGEST_SHOWN:
        return text
    start = max(0, min(column - _LONGEST_SHOWN // 3, len(text) - _LONGEST_SHOWN))
    return (
        ("…" if start else "")
        + text[start : start + _LONGEST_SHOWN]
        + ("…" if start + _LONGEST_SHOWN < len(text) else "")
    )


def _quoted(text: str | None) -> str:
    return repr(_shortened(text or ""))


def _shortened(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _LONGEST_SHOWN else text[: _LONGEST_SHOWN - 1] + "…"


# --- HTML tables -----------------------------------------------------------------------------------


class _TableParser(HTMLParser):
    """The tables of an HTML fragment as grids of ``(is_header, text)`` (row and column spans repeated),
    and the text outside them (but style and script)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[bool, str]]]] = []
        self.outside: list[str] = []
        self._stack: list[dict] = []  # open tables: rows, the open row, the open cell, spans pending
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skipping += 1
        elif tag == "table":
            self._stack.append({"rows": [], "row": None, "cell": None, "spans": {}})
        elif self._stack:
            table = self._stack[-1]
            if tag == "tr":
                self._close_row(table)
                table["row"] = []
            elif tag in ("td", "th"):
                self._close_cell(table)
                if table["row"] is None:
                    table["row"] = []
                spans = dict(attrs)
                table["cell"] = {
                    "header": tag == "th",
                    "text": [],
                    "rowspan": _span(spans.get("rowspan")),
                    "colspan": _span(spans.get("colspan")),
                }

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skipping = max(0, self._skipping - 1)
        elif tag == "table" and self._stack:
            table = self._stack.pop()
            self._close_row(table)
            self.tables.append(table["rows"])
        elif self._stack:
            if tag == "tr":
                self._close_row(self._stack[-1])
            elif tag in ("td", "th"):
                self._close_cell(self._stack[-1])

    def handle_data(self, data):
        if self._skipping:
            return
        if self._stack and self._stack[-1]["cell"] is not None:
            self._stack[-1]["cell"]["text"].append(data)
        elif not self._stack:
            self.outside.append(data)

    def _close_cell(self, table: dict) -> None:
        cell = table["cell"]
        if cell is None:
            return
        table["cell"] = None
        row, spans = table["row"], table["spans"]
        text = " ".join("".join(cell["text"]).split())
        for _ in range(cell["colspan"]):
            while len(row) in spans:  # a cell of a row above spans this one
                self._take_span(row, spans)
            if cell["rowspan"] > 1:
                spans[len(row)] = [cell["rowspan"] - 1, (cell["header"], text)]
            row.append((cell["header"], text))

    @staticmethod
    def _take_span(row: list, spans: dict) -> None:
        column = len(row)
        remaining, value = spans[column]
        row.append(value)
        if remaining <= 1:
            del spans[column]
        else:
            spans[column][0] = remaining - 1

    def _close_row(self, table: dict) -> None:
        self._close_cell(table)
        if table["row"] is None:
            return
        row, spans = table["row"], table["spans"]
        while len(row) in spans:
            self._take_span(row, spans)
        table["rows"].append(row)
        table["row"] = None


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 1000))
    except ValueError:
        return 1


def _parsed_html(text: str) -> _TableParser:
    parser = _TableParser()
    parser.feed(text)
    parser.close()
    return parser


def _compare_html_tables(left: str, right: str, masker: _Masker, settings: OutputSettings) -> dict:
    ours, left_masked = masker.text(left, for_html=True)
    theirs, right_masked = masker.text(right, for_html=True)
    result: dict[str, Any] = {"verdict": SAME, "masked": left_masked or right_masked}
    if ours == theirs:
        return result
    one, other = _parsed_html(ours), _parsed_html(theirs)
    found = _table_difference(one.tables, other.tables, settings)
    if found is None:
        text = _text_difference(" ".join(one.outside), " ".join(other.outside), settings)
        found = {"first": f"outside the table: {text}"} if text else None
    if found:
        result.update(verdict=DIFFERENT, **found)
    return result


def _table_difference(left: list, right: list, settings: OutputSettings) -> dict | None:
    """The first cell that differs, named by its row label and column header; or the shapes that differ."""
    if len(left) != len(right):
        return {"first": f"{len(left)} tables != {len(right)}"}
    for number, (ours, theirs) in enumerate(zip(left, right, strict=False)):
        name = f"table {number}: " if len(left) > 1 else ""
        headers = [row for row in ours if _is_header_row(row)]
        body = 0  # rows of values counted from 0, as the frame's positions
        for row, other_row in zip(ours, theirs, strict=False):
            for column, (cell, other_cell) in enumerate(zip(row, other_row, strict=False)):
                text = _text_difference(cell[1], other_cell[1], settings)
                if text is None:
                    continue
                if _is_header_row(row):
                    return {
                        "first": f"{name}column header {column}: "
                        f"{_cell_values(cell[1], other_cell[1], text, quoted=True)}"
                    }
                if cell[0]:  # the row's label itself
                    return {
                        "first": f"{name}row {body}: {_cell_values(cell[1], other_cell[1], text, quoted=True)}",
                        "row": body,
                    }
                row_label, column_label = _row_label(row, body), _column_label(headers, column)
                found = {"row": row_label, "column": column_label, "recorded": cell[1], "reproduced": other_cell[1]}
                return {
                    "first": f"{name}row {row_label!r}, column {column_label!r}: "
                    f"{_cell_values(cell[1], other_cell[1], text)}",
                    **found,
                }
            if len(row) != len(other_row):
                return {"first": f"{name}row {_row_label(row, body)!r}: {len(row)} cells != {len(other_row)}"}
            body += not _is_header_row(row)
        shape, other_shape = _shape(ours), _shape(theirs)
        if shape != other_shape:
            return {
                "first": f"{name}{shape[0]} rows x {shape[1]} columns != {other_shape[0]} rows x {other_shape[1]} "
                "columns"
            }
    return None


def _is_header_row(row: list) -> bool:
    return bool(row) and all(header for header, _ in row)


def _cell_values(one: str, other: str, text_difference: str, quoted: bool = False) -> str:
    """A table cell's two values as they read, when they are short; else the text difference found."""
    if len(one) <= _LONGEST_SHOWN and len(other) <= _LONGEST_SHOWN:
        return f"{one!r} != {other!r}" if quoted else f"{one or '(empty)'} != {other or '(empty)'}"
    return text_difference.split(": ", 1)[1] if text_difference.startswith("line 1: ") else text_difference


def _shape(rows: list) -> tuple[int, int]:
    return len(rows), max((len(row) for row in rows), default=0)


def _row_label(row: list, body: int) -> str:
    labels = [text for header, text in row if header and text]
    return " / ".join(labels) if labels else f"{body}"


def _column_label(headers: list, column: int) -> str:
    names = []
    for row in headers:
        if column < len(row) and row[column][1] and row[column][1] not in names:
            names.append(row[column][1])
    return " / ".join(names) if names else f"{column}"


# --- JSON ------------------------------------------------------------------------------------------


def _compare_json_values(left: Any, right: Any, masker: _Masker, settings: OutputSettings) -> dict:
    masked = [False]
    if isinstance(left, str) or isinstance(right, str):
        try:
            left, right = (json.loads(value) if isinstance(value, str) else value for value in (left, right))
        except ValueError:
            return _compare_texts("json", _joined(left), _joined(right), masker, settings)
    first = _json_difference(left, right, "", masker, settings, masked)
    result = {"verdict": DIFFERENT if first else SAME, "masked": masked[0]}
    if first:
        result["first"] = first
    return result


def _json_difference(
    left: Any, right: Any, pointer: str, masker: _Masker, settings: OutputSettings, masked: list
) -> str | None:
    where = pointer or "/"
    if isinstance(left, dict) and isinstance(right, dict):
        for key in left:
            if key not in right:
                return f"{where}: key {key!r} only in the recorded run"
            found = _json_difference(left[key], right[key], f"{pointer}/{key}", masker, settings, masked)
            if found:
                return found
        extra = [key for key in right if key not in left]
        return f"{where}: key {extra[0]!r} only in the rerun" if extra else None
    if isinstance(left, list) and isinstance(right, list):
        for position, (one, other) in enumerate(zip(left, right, strict=False)):
            found = _json_difference(one, other, f"{pointer}/{position}", masker, settings, masked)
            if found:
                return found
        return None if len(left) == len(right) else f"{where}: {len(left)} items != {len(right)}"
    numbers = (int, float)
    if (
        isinstance(left, numbers)
        and isinstance(right, numbers)
        and not isinstance(left, bool)
        and not isinstance(right, bool)
    ):
        return (
            None if left == right or _close(float(left), float(right), settings) else f"{where}: {left!r} != {right!r}"
        )
    if isinstance(left, str) and isinstance(right, str):
        ours, one_masked = masker.text(left)
        theirs, other_masked = masker.text(right)
        masked[0] = masked[0] or one_masked or other_masked
        text = _text_difference(ours, theirs, settings)
        return f"{where}: {text}" if text else None
    return None if left == right else f"{where}: {_shortened(json.dumps(left))} != {_shortened(json.dumps(right))}"


# --- images ----------------------------------------------------------------------------------------


def _compare_images(left: str, right: str, settings: OutputSettings) -> dict:
    """Two base64 images by SSIM: the same bytes are the same; sizes must match."""
    if "".join(left.split()) == "".join(right.split()):
        return {"verdict": SAME, "similarity": 1.0}
    try:
        ours = _decoded_image(left)
    except ValueError as error:
        return {"verdict": DIFFERENT, "first": f"the recorded image cannot be read ({error})"}
    try:
        theirs = _decoded_image(right)
    except ValueError as error:
        return {"verdict": DIFFERENT, "first": f"the rerun's image cannot be read ({error})"}
    if ours.shape != theirs.shape:
        return {
            "verdict": DIFFERENT,
            "first": f"size {ours.shape[1]}x{ours.shape[0]} != {theirs.shape[1]}x{theirs.shape[0]}",
        }
    similarity = round(_similarity(ours, theirs), 4)
    if similarity >= settings.image_similarity:
        return {"verdict": SAME, "similarity": similarity}
    return {
        "verdict": DIFFERENT,
        "similarity": similarity,
        "first": f"SSIM {similarity:.4f} < {settings.image_similarity} (the images differ)",
    }


def _decoded_image(data: str):
    """An RGB array of a base64 PNG or JPEG (transparency over white, as a page shows it)."""
    import numpy
    from PIL import Image, UnidentifiedImageError

    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "P", "PA"):
                rgba = image.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                canvas.alpha_composite(rgba)
                return numpy.asarray(canvas.convert("RGB"))
            return numpy.asarray(image.convert("RGB"))
    except (binascii.Error, UnidentifiedImageError, OSError) as error:
        raise ValueError(str(error) or type(error).__name__) from None


def _similarity(left, right) -> float:
    """SSIM of two RGB arrays of one size (scikit-image); identical pixels are 1 without computing it."""
    import numpy

    if numpy.array_equal(left, right):
        return 1.0
    side = min(left.shape[0], left.shape[1])
    if side < 3:
        return 0.0
    from skimage.metrics import structural_similarity

    window = min(7, side if side % 2 else side - 1)
    return float(structural_similarity(left, right, channel_axis=2, data_range=255, win_size=window))


# --- the differences as nbdime shows them ------------------------------------------------------------

_STYLE = """<style>
.reef-nbdiff{font-family:sans-serif;font-size:13px}
.reef-nbdiff section{border:1px solid #ccc;border-radius:4px;margin:0.6em 0;padding:0.4em 0.8em}
.reef-nbdiff h4{margin:0.3em 0}
.reef-nbdiff pre{font-family:monospace;font-size:12px;margin:0.3em 0;padding:0.4em;overflow-x:auto;background:#f7f7f7}
.reef-nbdiff .reef-nbdiff-source{border-left:3px solid #999}
.reef-nbdiff .reef-nbdiff-info{color:#0550ae;font-weight:bold}
.reef-nbdiff .reef-nbdiff-removed{background:#ffe5e5;color:#82071e;display:block}
.reef-nbdiff .reef-nbdiff-added{background:#e2f7e2;color:#055d20;display:block}
.reef-nbdiff mark{background:#ffd33d;color:inherit}
.reef-nbdiff figure{display:inline-block;margin:0.3em 1em 0.3em 0}
.reef-nbdiff img{max-width:420px;border:1px solid #ccc}
</style>"""


def differences_html(comparison: dict, recorded: Any, reproduced: Any) -> str:
    """The differing cells as an HTML fragment, as nbdime's diff shows them: per cell its first
    differences, its source, and nbdime's diff of the two cells (volatile content masked), removed lines
    red, added lines green, what changed in a line marked; differing images side by side. Self-contained:
    no script, no stylesheet or image from elsewhere. Empty when nothing differs.

    The cells and their outputs are paired as ``compare_notebooks`` paired them; nbdime diffs each pair
    (``diff_item_at_path``: the source line by line, an output's text and its MIME bundle) and prints the
    diff (``nbdime.prettyprint``).
    """
    differences = comparison.get("differences") or []
    if not differences:
        return ""
    settings = OutputSettings(masks=tuple(tuple(mask) for mask in (comparison.get("settings") or {}).get("masks", ())))
    masker = _Masker(settings)
    pairs = {
        (index, None if left and right else _only_in(left)): (left, right)
        for index, left, right in _pair_cells(recorded, reproduced)
    }
    parts = ['<div class="reef-nbdiff">', _STYLE]
    for index, only_in in dict.fromkeys((difference["cell"], difference.get("only_in")) for difference in differences):
        left, right = pairs.get((index, only_in), (None, None))
        firsts = [
            difference["first"]
            for difference in differences
            if (difference["cell"], difference.get("only_in")) == (index, only_in)
        ]
        anchor, title = (
            (f"{index}", f"cell {index}")
            if only_in is None
            else (f"{index}-{only_in[:5]}", f"cell {index} (only in the {only_in} notebook)")
        )
        parts.append(f'<section id="reef-nbdiff-cell-{anchor}"><h4>{html.escape(title)}</h4><ul>')
        parts += [f"<li>{html.escape(first)}</li>" for first in firsts]
        parts.append("</ul>")
        source = _source(left if left is not None else right) or ""
        parts.append(f'<pre class="reef-nbdiff-source">{html.escape(source)}</pre>')
        text = _nbdime_text(_diff_cell(left, masker), _diff_cell(right, masker), index)
        parts.append(f'<pre class="reef-nbdiff-diff">{_diff_lines_html(text)}</pre>')
        parts += _images_html(left, right)
        parts.append("</section>")
    parts.append("</div>")
    return "\n".join(parts)


def _diff_cell(cell: dict | None, masker: _Masker) -> Any:
    """A cell as nbdime diffs it (a NotebookNode): outputs as compared (masked), no metadata or counts."""
    if cell is None:
        return None
    import nbformat  # nbdime reads attributes: NotebookNodes

    outputs = []
    for _, output in _outputs(cell):
        output = {
            key: value for key, value in output.items() if key not in ("metadata", "execution_count", "traceback")
        }
        if "text" in output:
            output["text"] = masker.text(_joined(output["text"]))[0]
        if "data" in output:
            output["data"] = {
                mime: _masked_view(mime, value, masker) for mime, value in output["data"].items() if mime != WIDGET_MIME
            }
        outputs.append(output)
    return nbformat.from_dict(
        {
            "cell_type": cell.get("cell_type", "code"),
            "metadata": {},
            "source": _joined(cell.get("source", "")),
            "outputs": outputs,
        }
    )


def _masked_view(mime: str, value: Any, masker: _Masker) -> Any:
    if isinstance(value, (dict, list)) and not (
        isinstance(value, list) and all(isinstance(part, str) for part in value)
    ):
        return value
    text = _joined(value)
    if mime in IMAGE_MIMES:
        return text
    return masker.text(text, for_html=mime in ("text/html", "image/svg+xml"))[0]


def _nbdime_text(left: Any, right: Any, index: int) -> str:
    """nbdime's diff of two paired cells, pretty-printed (no colours, its own line diff) at ``/cells/INDEX``."""
    from nbdime.diff_format import op_add, op_addrange, op_patch, op_remove, op_removerange
    from nbdime.diffing.notebooks import diff_item_at_path
    from nbdime.prettyprint import PrettyPrintConfig, pretty_print_diff

    class _Include:
        sources, outputs, attachments, metadata, id, details = True, True, True, False, False, False

    out = io.StringIO()
    config = PrettyPrintConfig(out=out, include=_Include(), use_git=False, use_diff=False, use_color=False)
    if left is None or right is None:  # a cell only one notebook has
        pretty_print_diff(
            {index: left}, [op_remove(index)] if right is None else [op_add(index, right)], "/cells", config
        )
        return out.getvalue()
    entries = []
    source = diff_item_at_path(left.source, right.source, "/cells/*/source")
    if source:
        entries.append(op_patch("source", source))
    outputs = []
    for position in range(max(len(left.outputs), len(right.outputs))):
        one = left.outputs[position] if position < len(left.outputs) else None
        other = right.outputs[position] if position < len(right.outputs) else None
        if one is not None and other is not None and one.output_type == other.output_type:
            found = diff_item_at_path(one, other, "/cells/*/outputs/*")
            outputs += [op_patch(position, found)] if found else []
            continue
        outputs += [op_removerange(position, 1)] if one is not None else []
        outputs += [op_addrange(position, [other])] if other is not None else []
    if outputs:
        entries.append(op_patch("outputs", outputs))
    pretty_print_diff(left, entries, f"/cells/{index}", config)
    return out.getvalue()


def _diff_lines_html(text: str) -> str:
    """nbdime's ``-``/``+``/``##`` lines as HTML; a block of removed lines and the added one after it paired
    line by line, each pair marked where they differ."""
    lines = text.rstrip("\n").split("\n")
    partners: dict[int, int] = {}
    number = 0
    while number < len(lines):
        removed = number
        while removed < len(lines) and lines[removed].startswith("-  "):
            removed += 1
        first_added = removed
        while (
            removed > number
            and first_added < len(lines)
            and (not lines[first_added] or lines[first_added].startswith("## inserted"))
        ):
            first_added += 1  # a deleted output, then the one inserted in its place
        added = first_added
        while added < len(lines) and lines[added].startswith("+  "):
            added += 1
        for one, other in zip(range(number, removed), range(first_added, added), strict=False):
            partners[one], partners[other] = other, one
        number = max(added, number + 1)
    shown = []
    for number, line in enumerate(lines):
        if line.startswith("## "):
            shown.append(f'<span class="reef-nbdiff-info">{html.escape(line)}</span>')
        elif line.startswith(("-  ", "+  ")):
            body = _marked(line[3:], lines[partners[number]][3:]) if number in partners else html.escape(line[3:])
            css = "reef-nbdiff-removed" if line.startswith("-") else "reef-nbdiff-added"
            shown.append(f'<span class="{css}">{line[:3]}{body}</span>')
        else:
            shown.append(html.escape(line))
    return "\n".join(shown)


def _marked(line: str, other: str) -> str:
    """``line`` escaped, the words that differ from ``other`` marked."""
    ours, theirs = re.split(r"(\s+|[<>(),=:])", line), re.split(r"(\s+|[<>(),=:])", other)
    shown = []
    for tag, start, end, _, _ in difflib.SequenceMatcher(a=ours, b=theirs, autojunk=False).get_opcodes():
        piece = html.escape("".join(ours[start:end]))
        shown.append(piece if tag == "equal" or not piece else f"<mark>{piece}</mark>")
    return "".join(shown)


def _images_html(left: dict | None, right: dict | None) -> list[str]:
    """The images of the two cells that differ, side by side (data: URLs, nothing fetched)."""
    ours, theirs = _images(left), _images(right)
    shown = []
    for position in range(max(len(ours), len(theirs))):
        one = ours[position] if position < len(ours) else None
        other = theirs[position] if position < len(theirs) else None
        if one == other:
            continue
        for label, image in (("recorded", one), ("rerun", other)):
            if image is not None and len(image[1]) <= _LARGEST_IMAGE_SHOWN:
                shown.append(
                    f'<figure><img alt="{label}" '
                    f'src="data:{image[0]};base64,{html.escape(image[1])}"><figcaption>{label}</figcaption></figure>'
                )
    return shown


def _images(cell: dict | None) -> list[tuple[str, str]]:
    found = []
    for _, output in _outputs(cell):
        data = output.get("data") or {}
        mime = _chosen_mime(data)
        if mime in IMAGE_MIMES:
            found.append((mime, "".join(_joined(data[mime]).split())))
    return found

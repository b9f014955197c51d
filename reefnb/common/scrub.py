"""The one scrubber everything leaving this machine goes through (packages, shared results, dashboards).

Secrets are found in values (outputs, recorded values, parameters, metadata) by Yelp's
``detect-secrets`` plugins (AWS, GitHub, GitLab, Slack, OpenAI, Stripe, JWT, private keys, ...)
and its Shannon-entropy measure, never by looking at names: ``tokenizer`` or ``os.environ`` are
not secrets. Absolute paths of the solution folder and the home folder, the user's and the host's
names are replaced too. Code is never edited: ``secrets_in_code`` only reports what it finds in a
notebook's source, so the export can stop and say where.
"""

from __future__ import annotations

import ast
import functools
import getpass
import json
import logging
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REDACTED = "<redacted>"
_MEMO_LIMIT, _MEMO_LONGEST = 100_000, 1024  # strings (of at most that length) remembered by one Scrubber
# Detectors that judge a value by its shape; the keyword detector judges names and the IP one is no secret.
_SKIPPED_DETECTORS = {"KeywordDetector", "IPPublicDetector", "Base64HighEntropyString", "HexHighEntropyString"}
_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")
_HEX = re.compile(r"[0-9a-fA-F]+")
# reef's run ids (``new_run_id``: a UTC time and 32 random bits): identifiers, never secrets, yet their hex
# raised the entropy of a path around them (``results/RUN_ID/notebook`` read as one base64-like token): one path
# in six was redacted in packages.
_RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}(?![0-9a-fA-F])")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_PEM = re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL)
# Fields that hold digests and identifiers the package needs as they are (high entropy by nature).
DIGEST_KEYS = frozenset(
    {"sha256", "run_id", "run_key", "commit", "notebook_sha256", "id", "@id", "integrity", "digest"}
)
_SECRET_NAME = re.compile(r"(?i)(secret|token|passw|passwd|api_?key|apikey|access_?key|private_?key|credential|auth)")


@dataclass(frozen=True)
class Finding:
    """A secret found in a notebook's code: where, and what kind."""

    cell: int
    line: int
    kind: str


@functools.lru_cache(maxsize=1)
def _detectors() -> tuple:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    detectors = []
    for plugin_class in sorted(get_mapping_from_secret_type_to_class().values(), key=lambda item: item.__name__):
        if plugin_class.__name__ in _SKIPPED_DETECTORS or not issubclass(plugin_class, RegexBasedDetector):
            continue
        detectors.append((plugin_class.secret_type, tuple(plugin_class.denylist)))
    return tuple(detectors)


@functools.lru_cache(maxsize=1)
def _entropy():
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

    return Base64HighEntropyString(), HexHighEntropyString()


def find_secrets(text: str, high_entropy: bool = True) -> list[tuple[int, int, str]]:
    """Spans ``(start, end, kind)`` of the secrets in ``text``.

    ``high_entropy``: also random-looking tokens of 20+ characters (base64 entropy over
    detect-secrets' limit of 4.5 bits; hex over 3.0, except sha1/sha256 digests of 40/64 digits).
    """
    spans = []
    for kind, patterns in _detectors():
        for pattern in patterns:
            spans += [
                (match.start(), match.end(), kind)
                for match in pattern.finditer(text)
                if match.end() > match.start() and not _inside_hex(text, match.start(), match.end())
            ]
    if any(kind == "Private Key" for _, _, kind in spans):
        spans += [(match.start(), match.end(), "Private Key") for match in _PEM.finditer(text)]
    if high_entropy:
        base64, hexadecimal = _entropy()
        # run ids blanked (offsets kept): the text beside one is judged on its own
        for match in _CANDIDATE.finditer(_RUN_ID.sub(lambda run_id: " " * len(run_id.group()), text)):
            token = match.group()
            if _HEX.fullmatch(token):
                if len(token) in (40, 64) or hexadecimal.calculate_shannon_entropy(token) <= hexadecimal.entropy_limit:
                    continue
                spans.append((match.start(), match.end(), "Hex High Entropy String"))
            elif base64.calculate_shannon_entropy(token) > base64.entropy_limit:
                spans.append((match.start(), match.end(), "Base64 High Entropy String"))
    return _merged(spans)


def _inside_hex(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is hex digits only, within a longer run of hex digits: a piece of hex data
    (LoadGen's responses in ``mlperf_log_accuracy.json``, a digest), not a key. detect-secrets' AWS access key
    pattern has no bounds, and ``ACCA`` (one of its prefixes) is hex: 16 more uppercase hex digits anywhere in a
    hex dump matched it. A real key is cut from no longer token, and its letters go past ``F``."""
    return _HEX.fullmatch(text, start, end) is not None and (
        (start > 0 and text[start - 1] in _HEX_DIGITS) or (end < len(text) and text[end] in _HEX_DIGITS)
    )


def _merged(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(spans):
        if merged and start <= merged[-1][1]:
            previous = merged[-1]
            merged[-1] = (previous[0], max(previous[1], end), previous[2])
        else:
            merged.append((start, end, kind))
    return merged


def redact_secrets(text: str) -> str:
    """``text`` with every secret replaced by ``<redacted>``."""
    for start, end, _ in reversed(find_secrets(text)):
        text = text[:start] + REDACTED + text[end:]
    return text


class Scrubber:
    """Removes secrets, absolute paths, the user's and host's names from values about to leave.

    ``folder``: the solution folder, written ``.``; the home folder is written ``~``, the user
    ``<user>``, the host ``<host>``; ``interpreters``: Python prefixes (where tracebacks and warnings
    name installed code), written ``<python>``. ``identify=True`` keeps the user and host names (a
    sharer who chose to be named).
    """

    def __init__(
        self,
        folder: str | Path | None = None,
        identify: bool = False,
        names: tuple[str, ...] = (),
        interpreters: tuple[str, ...] = (),
    ):
        paths = {}
        if folder is not None:
            for text in {str(Path(folder)), str(Path(folder).resolve())}:
                paths[text] = "."
        for prefix in interpreters:
            for text in {str(Path(prefix)), str(Path(prefix).resolve())}:
                paths.setdefault(text, "<python>")
        home = str(Path.home())
        for text in {home, str(Path(home).resolve())}:
            paths.setdefault(text, "~")
        self.paths = sorted(
            ((path, placeholder) for path, placeholder in paths.items() if path not in ("", "/")),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        words = [] if identify else [(_user(), "<user>"), (socket.gethostname(), "<host>")]
        words += [(name, "<host>") for name in names if not identify]
        self.words = [
            (re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])"), placeholder)
            for word, placeholder in words
            if word and len(word) > 2 and word.lower() not in _COMMON_WORDS
        ]
        self._scrubbed: dict[str, str] = {}  # records repeat most strings (the fingerprint): scrub each once

    def text(self, text: str) -> str:
        """One string, scrubbed."""
        if len(text) > _MEMO_LONGEST:
            return self._scrub(text)
        scrubbed = self._scrubbed.get(text)
        if scrubbed is None:
            if len(self._scrubbed) >= _MEMO_LIMIT:
                self._scrubbed.clear()
            scrubbed = self._scrubbed[text] = self._scrub(text)
        return scrubbed

    def _scrub(self, text: str) -> str:
        text = redact_secrets(text)
        for path, placeholder in self.paths:
            text = re.sub(rf"{re.escape(path)}(?=$|[/\\\s\"'),:;\]}}])", placeholder, text)
        for pattern, placeholder in self.words:
            text = pattern.sub(placeholder, text)
        return text

    def value(self, value: Any, key: str | None = None) -> Any:
        """A JSON value, scrubbed throughout (its keys too), except digest and id fields."""
        if isinstance(value, str):
            return value if key in DIGEST_KEYS else self.text(value)
        if isinstance(value, list):
            return [self.value(item, key) for item in value]
        if isinstance(value, dict):
            return {
                self.text(name) if isinstance(name, str) else name: self.value(item, name)
                for name, item in value.items()
            }
        return value

    def json_bytes(self, data: Any) -> bytes:
        return (json.dumps(self.value(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    def notebook(self, text: str) -> str:
        """A notebook's JSON text with the text in its outputs and metadata scrubbed, every cell's source as it was.

        Only text meant for people is scrubbed: stream text, ``text/*`` and JSON outputs, errors, metadata
        strings. Images, PDFs and other binary (base64) outputs, images embedded in HTML as ``data:`` URIs,
        widget model ids and the widget state's keys and buffers stay byte for byte (a secret detector
        reads base64 as a random token), and each value keeps its form: a string or nbformat's list of lines.
        """
        notebook = json.loads(text)
        for cell in notebook.get("cells", []) if isinstance(notebook, dict) else ():
            if isinstance(cell, dict):
                self._cell(cell)
        metadata = notebook.get("metadata") if isinstance(notebook, dict) else None
        if isinstance(metadata, dict):
            widgets = metadata.pop("widgets", None)
            notebook["metadata"] = self.value(metadata)
            if widgets is not None:
                notebook["metadata"]["widgets"] = self._widget_value(widgets)
        return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    def _cell(self, cell: dict) -> None:
        """A cell's outputs, attachments and metadata scrubbed in place. Its source is never edited, but for the
        cell papermill wrote from the parameters of a run (``injected-parameters``): parameters are scrubbed."""
        outputs, attachments = cell.get("outputs"), cell.get("attachments")
        tags = (cell.get("metadata") or {}).get("tags") if isinstance(cell.get("metadata"), dict) else None
        if isinstance(tags, list) and INJECTED_PARAMETERS_TAG in tags and "source" in cell:
            cell["source"] = self._lines(cell["source"])
        if "outputs" in cell:
            cell["outputs"] = (
                [self._output(output) for output in outputs] if isinstance(outputs, list) else self.value(outputs)
            )
        if "attachments" in cell:
            cell["attachments"] = (
                {name: self._bundle(item) for name, item in attachments.items()}
                if isinstance(attachments, dict)
                else self.value(attachments)
            )
        if "metadata" in cell:
            cell["metadata"] = self.value(cell["metadata"])

    def _output(self, output: Any) -> Any:
        """One output: its text (stream, error, text and JSON data, metadata) scrubbed, its binary data as it was."""
        if not isinstance(output, dict):
            return self.value(output)
        scrubbed = {}
        for key, item in output.items():
            if key == "data":
                scrubbed[key] = self._bundle(item)
            elif key == "text":
                scrubbed[key] = self._lines(item)
            elif key in ("output_type", "execution_count"):
                scrubbed[key] = item
            else:  # ename, evalue, traceback (a list of frames, each scrubbed), name, metadata
                scrubbed[key] = self.value(item, key)
        return scrubbed

    def _bundle(self, bundle: Any) -> Any:
        """A MIME bundle (an output's data, an attachment): text and JSON scrubbed, binary and widget ids kept."""
        if not isinstance(bundle, dict):
            return self.value(bundle)
        scrubbed = {}
        for mime, item in bundle.items():
            kind = mime_kind(mime) if isinstance(mime, str) else "json"
            if kind == "widget-view" and isinstance(item, dict):
                scrubbed[mime] = {
                    key: value if key == "model_id" else self.value(value, key) for key, value in item.items()
                }
            elif kind == "json" or (kind == "text" and not isinstance(item, (str, list))):
                scrubbed[mime] = self.value(item)
            elif kind == "text":
                scrubbed[mime] = self._lines(item)
            else:
                scrubbed[mime] = item
        return scrubbed

    def _lines(self, value: Any) -> Any:
        """Text stored as a string or as nbformat's list of lines, scrubbed whole (a secret over several lines is
        seen) and given back in the same form; ``data:image/...;base64,`` payloads in it are kept."""
        if isinstance(value, list) and all(isinstance(line, str) for line in value):
            return self._people_text("".join(value)).splitlines(keepends=True)
        if isinstance(value, str):
            return self._people_text(value)
        return self.value(value)

    def _people_text(self, text: str) -> str:
        parts = _DATA_URI.split(text)
        return "".join(part if index % 2 else self.text(part) for index, part in enumerate(parts))

    def _widget_value(self, value: Any, key: str | None = None) -> Any:
        """The widget state (``metadata.widgets``): keys, model ids and references and binary buffers kept,
        any other string (a label, a text box's value) scrubbed."""
        if isinstance(value, dict):
            return {name: item if name == "buffers" else self._widget_value(item, name) for name, item in value.items()}
        if isinstance(value, list):
            return [self._widget_value(item, key) for item in value]
        if isinstance(value, str) and not (key == "model_id" or _WIDGET_ID.fullmatch(value)):
            return self.text(value)
        return value


_DATA_URI = re.compile(r"(data:image/[A-Za-z0-9.+-]+;base64,[A-Za-z0-9+/=]+)")
_WIDGET_ID = re.compile(r"(IPY_MODEL_)?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
INJECTED_PARAMETERS_TAG = "injected-parameters"  # papermill's cell of a run's parameters
_TEXT_APPLICATIONS = {
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/x-latex",
    "application/xml",
}


def mime_kind(mime: str) -> str:
    """How the scrubber treats an output of this MIME type: ``text`` (``text/*``, JavaScript, LaTeX: scrubbed as
    text), ``json`` (JSON, ``+json``: its strings scrubbed), ``widget-view`` (a widget's model id: kept) or
    ``binary`` (images, PDF and anything else, base64: kept as it is)."""
    mime = mime.strip().lower()
    if mime == WIDGET_VIEW_MIME:
        return "widget-view"
    if mime.startswith(("image/", "audio/", "video/", "font/")):
        return "binary"
    if mime.startswith("text/") or mime in _TEXT_APPLICATIONS:
        return "text"
    if mime == "application/json" or mime.endswith("+json"):
        return "json"
    return "binary"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container without passwd entry
        return ""


_COMMON_WORDS = {"root", "user", "jovyan", "localhost", "admin", "ubuntu", "runner"}


def secrets_in_code(notebook) -> list[Finding]:
    """Secrets written in the notebook's code cells (string constants, never names or calls).

    Detector-shaped secrets anywhere in a string constant count; a random-looking constant
    counts only when assigned to (or passed as) a name that says secret, token, password or key.
    """
    findings = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        for line, text, named in _string_constants(source):
            spans = find_secrets(text, high_entropy=named)
            if spans:
                findings.append(Finding(index, line, spans[0][2]))
    return findings


def _string_constants(source: str) -> list[tuple[int, str, bool]]:
    """(line, text, assigned to a secret-like name) of each string constant in a cell."""
    lines = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(lines)
    except SyntaxError:  # not Python (another kernel's language, cell magics): judge each line's text
        return [(number, line, bool(_SECRET_NAME.search(line))) for number, line in enumerate(source.splitlines(), 1)]
    named_nodes = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = " ".join(ast.unparse(target) for target in targets)
            if _SECRET_NAME.search(names) and node.value is not None:
                named_nodes.update(id(child) for child in ast.walk(node.value))
        elif isinstance(node, ast.keyword) and node.arg and _SECRET_NAME.search(node.arg):
            named_nodes.update(id(child) for child in ast.walk(node.value))
        elif isinstance(node, ast.Dict):
            for key, item in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and _SECRET_NAME.search(key.value):
                    named_nodes.update(id(child) for child in ast.walk(item))
    return [
        (node.lineno, node.value, id(node) in named_nodes)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


@functools.lru_cache(maxsize=8)
def default_scrubber(folder: str | None = None, identify: bool = False) -> Scrubber:
    """A scrubber for ``folder`` (cached: building one reads the user and host names)."""
    return Scrubber(folder, identify=identify)


def scrub_frame(frame, folder: str | Path | None = None):
    """A results frame (pandas) with every text cell scrubbed: what a dashboard may show."""
    scrubber = default_scrubber(None if folder is None else str(folder))
    text_columns = [column for column in frame.columns if frame[column].dtype.kind not in "biufcmM"]
    if not text_columns:
        return frame
    frame = frame.copy()
    for column in text_columns:
        frame[column] = frame[column].map(lambda value: scrubber.text(value) if isinstance(value, str) else value)
    return frame

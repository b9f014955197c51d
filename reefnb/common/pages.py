"""What every HTML page reef writes shares: data embedded as inert JSON, and a Content-Security-Policy.

A page reef writes (the dashboard, a chart saved as ``.html``, the reproduce report) shows values other people
chose: parameter values, metric names and units, file names, pulled from a registry as easily as recorded here.
Text goes into markup through ``html.escape``; data a script needs goes into a
``<script type="application/json">`` element (``json_script``), read with ``JSON.parse``, so it is never code, and
written so that no value can end the element: ``<``, ``>`` and ``&`` as JSON escapes (whatever the case or spacing
of a ``</Script >``, and no ``<!--`` either), U+2028 and U+2029 too. The policy (``security_policy``) lets only
the scripts the page was written with run (by their sha256, so no inline event handler or injected script runs)
and loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Iterable
from typing import Any

_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def embedded_json(value: Any) -> str:
    """``value`` as JSON text that is safe inside a script element: no ``<``, ``>``, ``&``, U+2028 or U+2029
    (each written as its ``\\uXXXX`` escape, which ``JSON.parse`` reads back as the same character); a number a
    float cannot hold finitely (NaN, infinity) as ``null``, as JSON has none; anything else JSON has no type for
    as its ``str``."""
    text = json.dumps(_finite(value), default=str, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.translate(_ESCAPES)


def json_script(element_id: str, value: Any) -> str:
    """A ``<script type="application/json">`` element holding ``value`` (``embedded_json``): a page's script
    reads it with ``JSON.parse(document.getElementById(element_id).textContent)``."""
    return f'<script type="application/json" id="{html.escape(element_id)}">{embedded_json(value)}</script>'


def script_source(code: str) -> str:
    """A CSP source that allows the inline script ``code`` (exactly that text) and nothing else: ``'sha256-...'``."""
    digest = hashlib.sha256(code.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def security_policy(scripts: Iterable[str] = ()) -> str:
    """The ``<meta http-equiv="Content-Security-Policy">`` of a page whose only scripts are the inline ``scripts``
    (their exact text, allowed by hash; none: no script runs at all). Inline event handlers (``onerror=``),
    ``javascript:`` URLs and any other script are refused; nothing is fetched (no network, no other file: styles
    inline, images as ``data:`` URLs); no ``<base>`` or form can send the reader elsewhere. Styles may be inline:
    Vega's tooltip and the pages' own ``<style>`` need it, and a style runs no code. Put it first in ``<head>``,
    before anything it should govern."""
    sources = " ".join(script_source(code) for code in scripts) or "'none'"
    policy = (
        f"default-src 'none'; script-src {sources}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'"
    )
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value

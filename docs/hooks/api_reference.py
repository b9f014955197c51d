"""MkDocs hook: the API page names the public API; mkdocstrings documents each name where it is defined.

``reefnb`` imports its API lazily (``reefnb.__getattr__`` and the ``_API`` map of name -> module), so
``::: reefnb.run`` would find nothing to read. A marker ``<!-- reef-api NAME NAME ... -->`` becomes one
``::: reefnb.MODULE.NAME`` block per name, headed ``reefnb.NAME`` as users call it. The build fails
when a name of ``reefnb.__all__`` is on no page, or on two, or a marker names something not public.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError

import reefnb

MARKER = re.compile(r"<!-- reef-api ([^>]*?) -->")
NOT_DOCUMENTED_HERE = {"__version__"}  # a string; the API page says what it is
BLOCK = """::: reefnb.{module}.{name}
    options:
      heading: reefnb.{name}
      toc_label: {name}
"""

documented: dict[str, str] = {}


def _blocks(match: re.Match, page_name: str) -> str:
    blocks = []
    for name in match.group(1).split():
        if name not in reefnb._API:
            raise PluginError(f"{page_name}: '{name}' is not in reefnb's public API (reefnb._API)")
        if name in documented:
            raise PluginError(f"{page_name}: '{name}' is already documented on {documented[name]}")
        documented[name] = page_name
        blocks.append(BLOCK.format(module=reefnb._API[name], name=name))
    return "\n".join(blocks)


def on_pre_build(config) -> None:  # noqa: ARG001 (MkDocs passes it by name)
    documented.clear()


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001
    return MARKER.sub(lambda match: _blocks(match, page.file.src_uri), markdown)


def on_post_build(config) -> None:  # noqa: ARG001
    missing = set(reefnb.__all__) - NOT_DOCUMENTED_HERE - set(documented)
    if missing:
        raise PluginError(f"public API not documented on any page: {', '.join(sorted(missing))}")

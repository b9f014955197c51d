"""MkDocs hook: the API page names the public API; mkdocstrings documents each name where it is defined.

``reefnb`` imports its API lazily (``reefnb.__getattr__`` and the ``_API`` map of name -> module), so
``::: reefnb.run`` would find nothing to read. A marker ``<!-- reef-api NAME NAME ... -->`` becomes one
``::: reefnb.MODULE.NAME`` block per name, headed ``reefnb.NAME`` as users call it. A public name that a
module binds to a function or class of another name (``reproduce_solution = reproduce``) is documented
from that function or class, so its parameters show. The build fails when a name of ``reefnb.__all__`` is
on no page, or on two, or a marker names something not public.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mkdocs.exceptions import PluginError

import reefnb

MARKER = re.compile(r"<!-- reef-api ([^>]*?) -->")
NOT_DOCUMENTED_HERE = {"__version__"}  # a string; the API page says what it is
BLOCK = """::: reefnb.{module}.{defined_as}
    options:
      heading: reefnb.{name}
      toc_label: {name}
"""

documented: dict[str, str] = {}


def defined_as(name: str) -> str:
    """The name the public ``name`` is defined under in its module: itself, or the function or class of that
    module it is bound to (read from the source: nothing of reefnb is imported)."""
    source = Path(reefnb.__file__).parent.joinpath(*reefnb._API[name].split(".")).with_suffix(".py")
    if not source.exists():  # a package (reefnb.provision.detection, reefnb.frontends.widgets): its __init__
        source = source.with_suffix("") / "__init__.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in defined:
            if any(isinstance(target, ast.Name) and target.id == name for target in node.targets):
                return node.value.id
    return name


def _blocks(match: re.Match, page_name: str) -> str:
    blocks = []
    for name in match.group(1).split():
        if name not in reefnb._API:
            raise PluginError(f"{page_name}: '{name}' is not in reefnb's public API (reefnb._API)")
        if name in documented:
            raise PluginError(f"{page_name}: '{name}' is already documented on {documented[name]}")
        documented[name] = page_name
        blocks.append(BLOCK.format(module=reefnb._API[name], name=name, defined_as=defined_as(name)))
    return "\n".join(blocks)


def on_pre_build(config) -> None:  # noqa: ARG001 (MkDocs passes it by name)
    documented.clear()


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001
    return MARKER.sub(lambda match: _blocks(match, page.file.src_uri), markdown)


def on_post_build(config) -> None:  # noqa: ARG001
    missing = set(reefnb.__all__) - NOT_DOCUMENTED_HERE - set(documented)
    if missing:
        raise PluginError(f"public API not documented on any page: {', '.join(sorted(missing))}")

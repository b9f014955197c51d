"""Command-line tools a solution may need (compilers, build tools, runtimes): where they are, which version.

Each tool is a row of ``TOOLS``: the executable names to look for on PATH, the arguments that make
it print its version, and the patterns that pull the version out of what it prints.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reefnb.common.tool_output import MAX_TOOL_OUTPUT_BYTES, run_tool

log = logging.getLogger(__name__)

TOOL_TIMEOUT_S = 10
_DOTTED = r"(\d+(?:\.\d+)+)"


@dataclass(frozen=True)
class Tool:
    """How to find one tool and read its version."""

    name: str
    executables: tuple[str, ...]
    version_arguments: tuple[str, ...] = ("--version",)
    # Tried in order on stdout and stderr together; group 1 of the first match is the version.
    version_patterns: tuple[str, ...] = ()

    def parse_version(self, output: str) -> str | None:
        """The version in the tool's answer to ``version_arguments``, or None."""
        for pattern in self.version_patterns:
            match = re.search(pattern, output, re.MULTILINE)
            if match:
                return match.group(1)
        return None

    def path(self) -> str | None:
        """The first of ``executables`` found on PATH."""
        for executable in self.executables:
            found = shutil.which(executable)
            if found:
                return found
        return None


# gcc's first line ends with its version after the parenthesised vendor string, e.g.
# "gcc (Debian 12.2.0-14+deb12u1) 12.2.0" or "gcc (GCC) 11.4.1 20230605 (Red Hat 11.4.1-2)";
# macOS's gcc is clang ("Apple clang version 15.0.0 (...)").
_GCC_PATTERNS = (r"^[^\n]*?\)[ \t]+(\d+\.\d+(?:\.\d+)?)", r"version " + _DOTTED)
_CLANG_PATTERNS = (r"clang version " + _DOTTED,)

TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("gcc", ("gcc",), version_patterns=_GCC_PATTERNS),
        Tool("g++", ("g++",), version_patterns=_GCC_PATTERNS),
        Tool("clang", ("clang",), version_patterns=_CLANG_PATTERNS),
        Tool("clang++", ("clang++",), version_patterns=_CLANG_PATTERNS),
        Tool("nvcc", ("nvcc",), version_patterns=(r"release \d+\.\d+, V" + _DOTTED, r"release (\d+\.\d+)")),
        Tool("cmake", ("cmake",), version_patterns=(r"cmake version " + _DOTTED,)),
        Tool("git", ("git",), version_patterns=(r"git version " + _DOTTED,)),
        # java -version prints to stderr: openjdk version "17.0.15" 2025-04-15 / java version "1.8.0_292"
        Tool("java", ("java",), ("-version",), (r'version "(\d+(?:\.\d+)*)',)),
        Tool("make", ("make", "gmake"), version_patterns=(r"GNU Make " + _DOTTED,)),
        Tool("docker", ("docker",), version_patterns=(r"Docker version " + _DOTTED,)),
        Tool("node", ("node", "nodejs"), version_patterns=(r"^v" + _DOTTED,)),
        Tool("rustc", ("rustc",), version_patterns=(r"rustc " + _DOTTED,)),
        Tool("cargo", ("cargo",), version_patterns=(r"cargo " + _DOTTED,)),
        Tool("go", ("go",), ("version",), (r"\bgo(\d+(?:\.\d+)*)",)),
        Tool("python3", ("python3", "python"), version_patterns=(r"Python " + _DOTTED,)),
    )
}


def find_tool(name: str) -> dict | None:
    """``{"name", "path", "version"}`` of a tool of ``TOOLS`` found on PATH, or None when absent.

    The version is None when the tool does not answer (in ``TOOL_TIMEOUT_S``) in a known form.
    """
    try:
        tool = TOOLS[name]
    except KeyError:
        raise KeyError(f"unknown tool {name!r} (known: {', '.join(sorted(TOOLS))})") from None
    path = tool.path()
    if path is None:
        return None
    return {"name": name, "path": path, "version": _tool_version(tool, path)}


def find_tools(names: Iterable[str] | None = None, max_workers: int = 8) -> dict[str, dict]:
    """``find_tool`` for each name (default: all of ``TOOLS``) at once; absent tools are left out."""
    names = list(TOOLS if names is None else names)
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=min(max_workers, len(names)), thread_name_prefix="reef-tools") as pool:
        found = dict(zip(names, pool.map(find_tool, names), strict=True))
    return {name: value for name, value in found.items() if value is not None}


def _tool_version(tool: Tool, path: str) -> str | None:
    try:
        answer = run_tool([path, *tool.version_arguments], TOOL_TIMEOUT_S, env={**os.environ, "LC_ALL": "C"})
    except OSError as error:
        log.warning("cannot run %s: %s", path, error)
        return None
    asked = f"{path} {' '.join(tool.version_arguments)}"
    if answer.timed_out:
        log.warning("%s did not answer in %d s", asked, TOOL_TIMEOUT_S)
        return None
    if answer.cut:
        log.warning("%s: said more than %d bytes: stopped, and its answer cut there", asked, MAX_TOOL_OUTPUT_BYTES)
    version = tool.parse_version(f"{answer.stdout}\n{answer.stderr}")
    if version is None:
        log.info("%s: no version in its answer to %s", path, " ".join(tool.version_arguments))
    return version

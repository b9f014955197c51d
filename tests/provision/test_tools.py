"""Command-line tools a solution may need (reefnb.provision.tools): found on PATH, their version read from their
answer; the real git and java where installed, stand-in programs on a private PATH otherwise."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from reefnb.provision.tools import TOOLS, Tool, find_tool, find_tools


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_version_matches_git():
    answer = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout
    expected = answer.split()[2]  # "git version 2.39.5" or "git version 2.39.5 (Apple Git-143)"
    expected = re.match(r"\d+(\.\d+)+", expected).group(0)  # drop ".windows.1"
    assert find_tool("git") == {"name": "git", "path": shutil.which("git"), "version": expected}


@pytest.mark.skipif(shutil.which("java") is None, reason="needs java")
def test_java_version_is_read_from_stderr():
    answer = subprocess.run(["java", "-version"], capture_output=True, text=True)
    assert answer.stdout.strip() == ""
    expected = re.search(r'version "(\d+(?:\.\d+)*)', answer.stderr).group(1)
    assert find_tool("java")["version"] == expected


def test_every_tool_on_path_is_found_with_its_path():
    found = find_tools()
    for name, tool in TOOLS.items():
        path = next((shutil.which(executable) for executable in tool.executables if shutil.which(executable)), None)
        assert (found[name]["path"] if name in found else None) == path


def test_an_absent_tool_is_none_and_an_unknown_one_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_tool("git") is None
    assert find_tools(["git", "cmake"]) == {}
    with pytest.raises(KeyError, match="unknown tool 'frobnicator'"):
        find_tool("frobnicator")


@pytest.mark.parametrize(
    ("name", "output", "version"),
    [
        ("gcc", "gcc (Debian 12.2.0-14+deb12u1) 12.2.0\nCopyright (C) 2022 Free Software Foundation, Inc.", "12.2.0"),
        ("gcc", "gcc (GCC) 11.4.1 20230605 (Red Hat 11.4.1-2)\n", "11.4.1"),
        ("gcc", "Apple clang version 15.0.0 (clang-1500.1.0.2.5)\nTarget: arm64-apple-darwin23.2.0\n", "15.0.0"),
        ("clang", "Ubuntu clang version 14.0.0-1ubuntu1.1\nTarget: x86_64-pc-linux-gnu\n", "14.0.0"),
        (
            "nvcc",
            "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.4, V12.4.131\n",
            "12.4.131",
        ),
        ("java", 'java version "1.8.0_292"\nJava(TM) SE Runtime Environment (build 1.8.0_292-b10)\n', "1.8.0"),
        ("java", 'openjdk version "21" 2023-09-19\n', "21"),
        ("go", "go version go1.22.1 linux/amd64\n", "1.22.1"),
        ("git", "git version 2.39.5 (Apple Git-154)\n", "2.39.5"),
        ("make", "GNU Make 4.3\nBuilt for x86_64-pc-linux-gnu\n", "4.3"),
        ("node", "v20.20.2\n", "20.20.2"),
        ("python3", "Python 3.11.7\n", "3.11.7"),
    ],
)
def test_version_patterns(name, output, version):
    assert TOOLS[name].parse_version(output) == version


def stand_in(folder, name: str, answer: str, stream: str = "stdout") -> None:
    """An executable ``name`` on a private PATH that answers any arguments with ``answer`` (a python script)."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.{stream}.write({answer!r})\n", encoding="utf-8")
    script.chmod(0o755)


def test_a_tool_is_found_by_any_of_its_names_and_its_answer_read_from_either_stream(monkeypatch, tmp_path):
    folder = tmp_path / "bin"
    stand_in(folder, "gmake", "GNU Make 4.4.1\n")
    stand_in(folder, "java", 'openjdk version "17.0.15" 2025-04-15\n', stream="stderr")
    stand_in(folder, "cmake", "no version here\n")
    monkeypatch.setenv("PATH", str(folder))
    assert find_tool("make") == {"name": "make", "path": str(folder / "gmake"), "version": "4.4.1"}
    assert find_tool("java")["version"] == "17.0.15"
    assert find_tool("cmake") == {"name": "cmake", "path": str(folder / "cmake"), "version": None}
    assert sorted(find_tools()) == ["cmake", "java", "make"]
    assert find_tools([]) == {}


def test_a_tool_answers_its_own_version_arguments():
    tool = Tool("demo", ("demo",), ("-V",), (r"demo (\d+\.\d+)", r"(\d+)"))
    assert tool.parse_version("demo 2.5 build 7") == "2.5"  # the first pattern that matches wins
    assert tool.parse_version("build 7") == "7"
    assert Tool("bare", ("bare",)).parse_version("bare 1.0") is None  # no patterns: no version
    assert all(tool.version_arguments and tool.version_patterns for tool in TOOLS.values())

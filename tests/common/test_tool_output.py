"""The one way reef runs a program and reads what it says (reefnb.common.tool_output): bounded in time and bytes."""

from __future__ import annotations

import sys

import pytest

from reefnb.common.tool_output import run_tool


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_program_s_status_and_both_streams_come_back_as_text():
    result = run_tool(python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"), timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.cut and not result.timed_out


def test_a_program_saying_more_than_the_limit_is_ended_and_marked_cut():
    code = "import sys\nwhile True: sys.stdout.write('x' * 65536)"
    result = run_tool(python(code), timeout=60, max_bytes=100_000)
    assert result.cut and result.returncode is None and not result.timed_out
    assert result.stdout == "x" * 100_000


def test_with_keep_tail_the_program_runs_to_its_end_and_its_last_bytes_are_kept():
    code = "import sys\nfor i in range(50000): print(f'line {i}')\nprint('the error', file=sys.stderr); sys.exit(1)"
    result = run_tool(python(code), timeout=60, max_bytes=1000, keep_tail=True)
    assert result.cut and result.returncode == 1
    assert result.stdout.endswith("line 49999\n") and len(result.stdout) == 1000
    assert result.stderr == "the error\n"


def test_a_program_past_its_time_is_ended_with_what_it_started():
    code = "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    code += "print('started', flush=True); time.sleep(600)"
    result = run_tool(python(code), timeout=1.5)
    assert result.timed_out and result.returncode is None
    assert result.stdout == "started\n"  # the child held the pipe too: it was ended with its group, so this returned


def test_bad_utf8_is_replaced_and_a_missing_program_is_an_os_error(tmp_path):
    result = run_tool(python("import sys; sys.stdout.buffer.write(b'ok \\xff')"), timeout=60)
    assert result.stdout == "ok \ufffd"
    with pytest.raises(OSError):
        run_tool([str(tmp_path / "no-such-tool")], timeout=5)


def test_environment_and_folder_are_the_program_s(tmp_path):
    code = "import os; print(os.getcwd()); print(os.environ.get('REEF_TOOL_TEST'))"
    result = run_tool(python(code), timeout=60, env={"REEF_TOOL_TEST": "given"}, cwd=tmp_path)
    assert result.stdout.split("\n")[:2] == [str(tmp_path.resolve()), "given"]

"""Bounded cell output (reefnb.runs.output_limit): the limit's sources, the size of an output, the client's budget.

The flood end to end (a real kernel printing 200 MB, the kernel's own limit) is in tests/hostile/test_output_flood.py.
"""

from __future__ import annotations

import pytest

from reefnb.common.exceptions import ReefError
from reefnb.kernel.recording import RECORD_MIME
from reefnb.runs.output_limit import (
    MARKER_ROOM,
    MAX_CELL_OUTPUT,
    MAX_CELL_OUTPUT_VARIABLE,
    OutputBudget,
    cell_output_limit,
    kernel_limit_code,
    output_size,
)


def stream(text: str) -> dict:
    return {"msg_type": "stream", "content": {"name": "stdout", "text": text}}


def test_the_limit_comes_from_the_value_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.delenv(MAX_CELL_OUTPUT_VARIABLE, raising=False)
    assert cell_output_limit() == MAX_CELL_OUTPUT
    monkeypatch.setenv(MAX_CELL_OUTPUT_VARIABLE, "2K")
    assert cell_output_limit() == 2048
    assert cell_output_limit("1M") == 2**20
    assert cell_output_limit(0) == 0  # an int is taken as bytes, zero included


def test_a_bad_limit_names_where_it_came_from(monkeypatch):
    monkeypatch.setenv(MAX_CELL_OUTPUT_VARIABLE, "lots")
    with pytest.raises(ReefError, match=MAX_CELL_OUTPUT_VARIABLE):
        cell_output_limit()
    with pytest.raises(ReefError, match="--max-output"):
        cell_output_limit("-5")


def test_an_output_s_size_counts_its_text_data_and_traceback():
    assert output_size({"name": "stdout", "text": "abcd"}) == 4
    assert (
        output_size({"data": {"text/plain": "xy", "text/html": "<b>"}}) == len("text/plain") + 2 + len("text/html") + 3
    )
    assert output_size({"traceback": ["line 1", "line 2"], "evalue": "boom"}) == 12 + 4
    assert output_size({"data": {"application/json": {"a": [1, 2]}}}) == len("application/json") + 1 + len("[1, 2]")
    assert output_size({}) == 0


def test_messages_that_are_not_outputs_pass_whatever_was_spent():
    budget, outputs = OutputBudget(10), []
    assert budget.admit(outputs, stream("x" * (10 + MARKER_ROOM)), 0, False)
    outputs.append({"text": "spent"})
    assert budget.admit(outputs, {"msg_type": "status", "content": {"execution_state": "idle"}}, 0, False)
    assert budget.admit(outputs, {"msg_type": "clear_output", "content": {"wait": False}}, 0, False)
    assert not budget.admit(outputs, {"msg_type": "error", "content": {"evalue": "e", "traceback": []}}, 0, False)


def test_clearing_the_cell_gives_its_budget_back():
    budget, outputs = OutputBudget(100), []
    assert budget.admit(outputs, stream("a" * budget.bound), 0, False)
    outputs.append({"text": "a"})
    assert not budget.admit(outputs, {"msg_type": "display_data", "content": {"data": {"text/plain": "b"}}}, 0, False)
    assert budget.admit(outputs, stream("c" * 50), 0, True)  # clear_output(wait=True) ahead of it
    assert budget.kept == 50 and budget.dropped == 0


def test_the_marker_is_added_once_and_brought_up_to_date():
    budget, outputs = OutputBudget(2**20), []
    assert budget.admit(outputs, stream("a" * budget.bound), 0, False)
    outputs.append({"output_type": "stream", "text": "a"})
    budget.mark(outputs)
    assert len(outputs) == 1  # nothing dropped: no marker
    assert not budget.admit(outputs, {"msg_type": "execute_result", "content": {"data": {"x": "y" * 2**20}}}, 0, False)
    budget.mark(outputs)
    assert len(outputs) == 2 and "1.0 MB of output dropped" in outputs[-1]["text"]
    assert outputs[-1]["name"] == "stderr" and MAX_CELL_OUTPUT_VARIABLE in outputs[-1]["text"]
    assert not budget.admit(outputs, {"msg_type": "execute_result", "content": {"data": {"x": "z" * 2**21}}}, 0, False)
    budget.mark(outputs)
    assert len(outputs) == 2 and "3.0 MB of output dropped" in outputs[-1]["text"]


def test_records_have_a_budget_of_their_own_which_is_bounded_too():
    budget, outputs = OutputBudget(100), []
    record = {"msg_type": "display_data", "content": {"data": {RECORD_MIME: {"name": "m", "value": "v" * 50}}}}
    assert budget.admit(outputs, record, 0, False)
    outputs.append({"data": "record"})
    assert budget.records == output_size(record["content"]) and budget.kept == 0
    flood = {"msg_type": "display_data", "content": {"data": {RECORD_MIME: "r" * (budget.bound + 1)}}}
    assert not budget.admit(outputs, flood, 0, False)


def test_the_kernel_code_is_python_that_installs_the_limit_given():
    code = kernel_limit_code(12345)
    compile(code, "<kernel limit>", "exec")
    assert "__reef_limit_output(12345, " in code and RECORD_MIME in code
    assert code.rstrip().endswith("del __reef_limit_output")  # leaves no name in the user's namespace

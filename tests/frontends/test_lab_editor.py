"""The open notebook in JupyterLab as the place a declaration goes (reefnb.frontends.lab_editor): the merge patch,
and what the kernel does with the front end's answer. The comm is the ``comm`` package's extension point
(``comm.create_comm``, which ipykernel sets in a kernel): here one that keeps what is sent and lets the test answer
as the extension or JupyterLab would. The extension itself, in a real JupyterLab: tests/frontends/test_lab*.py."""

from __future__ import annotations

import copy
from pathlib import Path

import comm
import pytest

from reefnb.frontends.lab_editor import TARGET, LabEditor, merge_patch


def apply_patch(target, patch):
    """RFC 7386's algorithm, as the extension applies a patch to the notebook's metadata."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_patch(result.get(key), value)
    return result


@pytest.mark.parametrize(
    ("before", "after", "patch"),
    [
        ({}, {"requires": {"packages": ["numpy"]}}, {"requires": {"packages": ["numpy"]}}),
        (
            {"requires": {"packages": ["numpy"], "tools": ["git"]}},
            {"requires": {"packages": ["numpy"]}},
            {"requires": {"tools": None}},
        ),
        ({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}}, {"b": {"c": 3}}),
        ({"a": [1, 2]}, {"a": [2]}, {"a": [2]}),  # a list is replaced whole
        ({"a": {"b": 1}}, {"a": "text"}, {"a": "text"}),
        ({"same": 1}, {"same": 1}, {}),
    ],
)
def test_the_merge_patch_turns_before_into_after(before, after, patch):
    assert merge_patch(before, after) == patch
    assert apply_patch(copy.deepcopy(before), merge_patch(before, after)) == after


class Comm:
    """A comm to the front end: what was sent, and the handlers the kernel registered for the answer."""

    def __init__(self, target_name: str, data: dict):
        self.target_name, self.data = target_name, data
        self.answer = self.close = None

    def on_msg(self, handler):
        self.answer = handler

    def on_close(self, handler):
        self.close = handler


@pytest.fixture
def opened(monkeypatch):
    made: list[Comm] = []

    def create_comm(target_name: str, data: dict, **_) -> Comm:
        made.append(Comm(target_name, data))
        return made[-1]

    monkeypatch.setattr(comm, "create_comm", create_comm)
    return made


def editor(refused: list, lab: bool = True, session: str | None = "work/main.ipynb") -> LabEditor:
    return LabEditor(session, lambda: lab, lambda *arguments: refused.append(arguments))


BEFORE, AFTER = {"requires": {}}, {"requires": {"packages": ["numpy"]}}


def test_outside_jupyterlab_nothing_is_sent(opened):
    refused: list = []
    assert editor(refused, session=None).deliver(Path("main.ipynb"), BEFORE, AFTER) is False
    plain = editor(refused, lab=False)  # a request that did not come from a JupyterLab cell
    assert plain.deliver(Path("main.ipynb"), BEFORE, AFTER) is False
    assert opened == [] and refused == [] and plain.held(Path("main.ipynb")) is None


def test_the_change_goes_to_the_open_notebook_and_is_held_until_answered(opened):
    refused: list = []
    lab = editor(refused)
    assert lab.deliver(Path("main.ipynb"), BEFORE, AFTER) is True
    (sent,) = opened
    assert sent.target_name == TARGET
    assert sent.data == {"kind": "declare", "path": "work/main.ipynb", "patch": {"requires": {"packages": ["numpy"]}}}
    assert lab.held(Path("main.ipynb")) == AFTER
    sent.answer({"content": {"data": {"ok": True}}})
    sent.close({})  # closing after the answer changes nothing
    assert lab.answers == [{"ok": True}] and refused == [] and lab.held(Path("main.ipynb")) == AFTER


def test_a_refusal_writes_the_file_through_the_caller_with_the_output_of_the_declaration(opened):
    refused: list = []
    lab = editor(refused)
    lab.display_id = "declaration-1"
    lab.deliver(Path("main.ipynb"), BEFORE, AFTER)
    lab.display_id = "declaration-2"  # a later declaration: the refusal updates the first one's output
    opened[0].answer({"content": {"data": {"ok": False, "reason": "not open"}}})
    assert refused == [(Path("main.ipynb"), AFTER, "declaration-1")]
    assert lab.held(Path("main.ipynb")) is None


def test_without_the_extension_jupyterlab_closes_the_comm_and_the_file_is_written(opened):
    refused: list = []
    lab = editor(refused)
    lab.deliver(Path("main.ipynb"), BEFORE, AFTER)
    opened[0].close({})
    assert refused == [(Path("main.ipynb"), AFTER, None)] and lab.answers == []

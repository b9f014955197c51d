"""Recording in the kernel and reading back from an executed notebook (reefnb.kernel.recording): values kept
exactly, the metric budget, attached files' names; notebooks built in memory, no kernel started."""

from __future__ import annotations

import json
import math

import nbformat
import numpy
import pytest

from reefnb.kernel import recording
from reefnb.kernel.recording import (
    ATTACH_MIME,
    MAX_INTEGER_DIGITS,
    RECORD_MIME,
    attach,
    budget_limits,
    check_attachment_name,
    decode_value,
    encode_value,
    metric_size,
    read_attachments,
    read_records,
    read_refused,
    record,
    run_folder,
    source_cells,
    within_budget,
)


def executed(*outputs_per_cell: list[dict], tags: dict[int, str] | None = None):
    """An executed notebook in memory: one code cell per list of (data) outputs; ``tags`` marks cells papermill adds."""
    notebook = nbformat.v4.new_notebook()
    for index, outputs in enumerate(outputs_per_cell):
        cell = nbformat.v4.new_code_cell(f"cell {index}")
        cell.outputs = [nbformat.v4.new_output("display_data", data=data) for data in outputs]
        if tags and index in tags:
            cell.metadata["tags"] = [tags[index]]
        notebook.cells.append(cell)
    return notebook


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        (numpy.float32(0.5), 0.5),
        (numpy.int64(7), 7),
        (numpy.arange(3), [0, 1, 2]),
        ((1, {"a": 2.5}), [1, {"a": 2.5}]),
        ({1: "x"}, {"1": "x"}),
        (10**400, 10**400),  # exact, beyond a float
    ],
)
def test_values_are_kept_as_plain_json_and_read_back_the_same(value, decoded):
    payload = encode_value(value)
    assert decode_value(json.loads(json.dumps(payload))) == decoded


@pytest.mark.parametrize("special", ["nan", "inf", "-inf"])
def test_nan_and_infinities_are_kept_beside_a_null_value(special):
    payload = encode_value(float(special))
    assert payload == {"value": None, "special": special}
    back = decode_value(payload)
    assert math.isnan(back) if special == "nan" else back == float(special)


@pytest.mark.parametrize(
    ("name", "value", "unit", "words"),
    [
        ("", 1, None, "the name must be a non-empty string"),
        (3, 1, None, "the name must be a non-empty string"),
        ("x", 1, 5, "the unit must be a string or None"),
        ("x", object(), None, "cannot record a value of type object"),
        ("x", [1, {2}], None, "cannot record a value of type set"),
        ("x", 10**MAX_INTEGER_DIGITS, None, f"more than {MAX_INTEGER_DIGITS} digits"),
    ],
    ids=["empty-name", "name-not-text", "unit-not-text", "object", "set-inside", "too-many-digits"],
)
def test_what_cannot_be_kept_exactly_is_refused_before_anything_is_shown(name, value, unit, words, capsys):
    with pytest.raises(ValueError, match=words):
        record(name, value, unit)
    assert capsys.readouterr() == ("", "")


def test_the_last_record_of_a_name_wins_and_cells_papermill_added_are_not_the_notebook_s():
    notebook = executed(
        [{RECORD_MIME: {"name": "injected", "value": 1}}],
        [{RECORD_MIME: {"name": "acc", "value": 0.5, "unit": "%"}}, {"text/plain": "no record"}],
        [{RECORD_MIME: {"name": "acc", "value": None, "special": "nan"}}, {RECORD_MIME: {"value": "no name"}}],
        tags={0: "injected-parameters"},
    )
    assert len(source_cells(notebook)) == 2
    assert read_records(notebook) == {"acc": {"value": None, "unit": None, "cell_index": 1, "special": "nan"}}


def test_refused_record_calls_are_added_up_from_the_kernel_s_lines():
    notebook = executed(
        [{RECORD_MIME: {"refused": 1}}, {RECORD_MIME: {"refused": 3}}],
        [
            {RECORD_MIME: {"refused": "many"}},
            {RECORD_MIME: {"refused": -2}},
            {RECORD_MIME: {"name": "x", "refused": 9}},
        ],
    )
    assert read_refused(notebook) == 4


def test_the_budget_comes_from_the_environment_when_it_holds_whole_numbers(monkeypatch):
    monkeypatch.setenv("REEF_MAX_METRICS", "5")
    monkeypatch.setenv("REEF_MAX_METRIC_BYTES", "16M")  # the executor passes bytes; anything else is the default
    assert budget_limits() == (5, recording.MAX_METRIC_BYTES)
    monkeypatch.delenv("REEF_MAX_METRICS")
    assert budget_limits() == (recording.MAX_METRICS, recording.MAX_METRIC_BYTES)


def test_a_run_keeps_the_first_metrics_that_fit_in_the_order_recorded():
    metrics = {name: {"value": name * 10, "unit": None} for name in "abcd"}
    size = metric_size({"name": "a", **metrics["a"]})
    assert size == len('{"name":"a","value":"aaaaaaaaaa"}')  # a unit of None takes nothing
    assert within_budget(metrics, (3, 10**6)) == ({name: metrics[name] for name in "abc"}, 1)
    assert within_budget(metrics, (100, 2 * size)) == ({name: metrics[name] for name in "ab"}, 2)


def test_a_kernel_s_budget_refuses_a_new_metric_past_its_count_but_replaces_a_known_one(monkeypatch, capsys):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # plain python, whatever shell an earlier test made
    monkeypatch.setenv("REEF_MAX_METRICS", "2")
    monkeypatch.setenv("REEF_MAX_METRIC_BYTES", "100")
    budget = recording._Budget()
    assert budget.admit("a", 10) and budget.admit("b", 10)
    assert not budget.admit("c", 10)
    assert budget.admit("a", 70)  # a replaced value takes only what it needs more
    assert not budget.admit("b", 31)  # 70 + 31 > 100: the bytes are spent
    assert budget.refused == 2
    said = capsys.readouterr().err  # no IPython shell here: the first refusal is said on stderr, once
    assert said == (
        "[reef] record: 'c' refused: the run has 2 metrics, the most it keeps (REEF_MAX_METRICS); "
        "the metrics recorded before are kept\n"
    )


@pytest.mark.parametrize("name", ["", "../x", "/etc/passwd", "a//b", ".hidden", "a/../b", "a\\b", "x" * 300])
def test_bad_names_are_refused_in_the_kernel(name):
    with pytest.raises(ValueError, match="attach:"):
        check_attachment_name(name)


def test_read_attachments_ignores_malformed_outputs():
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={ATTACH_MIME: {"path": 3, "name": "a"}}),
        nbformat.v4.new_output("display_data", data={ATTACH_MIME: "nonsense"}),
        nbformat.v4.new_output("display_data", data={ATTACH_MIME: {"path": "/x/a", "name": "a"}}),
    ]
    notebook.cells.append(cell)
    assert read_attachments(notebook) == [{"path": "/x/a", "name": "a", "cell_index": 0}]


def test_a_later_attachment_of_a_name_replaces_the_earlier_one_in_its_place():
    notebook = executed(
        [{ATTACH_MIME: {"path": "/r/a1", "name": "a"}}, {ATTACH_MIME: {"path": "/r/b", "name": "b"}}],
        [{ATTACH_MIME: {"path": "/r/a2", "name": "a"}}],
    )
    assert read_attachments(notebook) == [
        {"path": "/r/b", "name": "b", "cell_index": 0},
        {"path": "/r/a2", "name": "a", "cell_index": 1},
    ]


def test_a_run_attaches_only_files_inside_its_solution_folder(tmp_path, monkeypatch):
    solution = tmp_path / "solution"
    run = solution / "runs" / "run-1"
    run.mkdir(parents=True)
    monkeypatch.setenv("REEF_RUN_FOLDER", str(run))
    assert run_folder() == run
    (solution / "inside.txt").write_text("kept", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("not kept", encoding="utf-8")
    (solution / "link.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(ValueError, match="outside the solution folder"):
        attach(solution / "link.txt")
    with pytest.raises(ValueError, match="not a file"):
        attach(solution / "absent.txt")
    with pytest.raises(ValueError, match="not a usable name"):
        attach(solution / "inside.txt", name="../up.txt")

"""Output comparison (reefnb.analysis.outputs): what a rerun's notebook shows against the recorded run's.

Notebooks are built with nbformat here (no kernel: fast), their outputs written as a kernel writes them;
one module-scoped fixture runs a small notebook twice with papermill on the python3 kernel, as reproduce
does, and the two executed notebooks must agree with their volatile lines masked.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image, ImageDraw

from reefnb.analysis.outputs import OutputSettings, compare_notebooks, differences_html
from reefnb.common.exceptions import ManifestError
from reefnb.kernel.recording import RECORD_MIME
from reefnb.solution.manifest import validate_manifest


def notebook(*cells) -> nbformat.NotebookNode:
    """A notebook of code cells: each ``(source, [outputs])``, or a NotebookNode cell as it is."""
    made = new_notebook(cells=[new_markdown_cell("# An analysis")])
    for cell in cells:
        if isinstance(cell, tuple):
            source, outputs = cell
            cell = new_code_cell(source, outputs=list(outputs))
        made.cells.append(cell)
    return made


def stream(text: str, name: str = "stdout"):
    return new_output("stream", name=name, text=text)


def result(data: dict, count: int = 1):
    return new_output("execute_result", data=data, execution_count=count)


def plain(text: str):
    return result({"text/plain": text})


def frame_output(frame: pd.DataFrame):
    return result({"text/plain": repr(frame), "text/html": frame._repr_html_()})


def png(draw_bars=(40, 70, 55, 90), size=(160, 120), compress_level=6) -> str:
    """A bar chart as a base64 PNG: axes, bars of the given heights (percent), a title-like stripe."""
    image = Image.new("RGB", size, "white")
    pen = ImageDraw.Draw(image)
    width, height = size
    pen.line([(20, 10), (20, height - 20), (width - 10, height - 20)], fill="black", width=2)
    pen.rectangle([(30, 2), (width - 30, 6)], fill=(200, 200, 200))
    step = (width - 40) // len(draw_bars)
    for number, percent in enumerate(draw_bars):
        left = 26 + number * step
        top = height - 20 - int((height - 35) * percent / 100)
        pen.rectangle([(left, top), (left + step - 8, height - 21)], fill=(76, 114, 176))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return base64.b64encode(buffer.getvalue()).decode()


def figure_output(image: str):
    return new_output("display_data", data={"image/png": image, "text/plain": "<Figure size 160x120 with 1 Axes>"})


AREAS = pd.DataFrame(
    {"area": [44828, 7354, 56539], "density": [263.5, 1263.2, 101.2]},
    index=pd.Index(["Ohio", "New Jersey", "Wisconsin"], name="state"),
)


def analysis() -> nbformat.NotebookNode:
    """A pandas-style notebook: a table, a printed mean, a chart, a JSON view, an error, a plain result."""
    return notebook(
        ("import pandas as pd", []),
        ("areas", [frame_output(AREAS)]),
        ("print('mean density:', areas.density.mean())", [stream("mean density: 542.6333333333333\n")]),
        ("areas.plot.bar()", [figure_output(png())]),
        (
            "JSON(summary)",
            [
                new_output(
                    "display_data",
                    data={
                        "application/json": {"states": 3, "scale": 0.25, "names": ["Ohio"]},
                        "text/plain": "<IPython.core.display.JSON object>",
                    },
                )
            ],
        ),
        (
            "1 / 0",
            [
                new_output(
                    "error",
                    ename="ZeroDivisionError",
                    evalue="division by zero",
                    traceback=["\x1b[0;31m---\x1b[0m", "ZeroDivisionError: division by zero"],
                )
            ],
        ),
        ("len(areas)", [plain("3")]),
    )


def changed(made: nbformat.NotebookNode, cell: int, output: int = 0, **fields) -> nbformat.NotebookNode:
    made = copy.deepcopy(made)
    made.cells[cell].outputs[output].update(fields)
    return made


def test_the_same_outputs_reproduce_and_every_kind_is_compared():
    recorded = analysis()
    comparison = compare_notebooks(recorded, copy.deepcopy(recorded))
    assert (
        comparison["verdict"] == "reproduced" and comparison["differences"] == [] and comparison["code_changed"] == []
    )
    assert comparison["compared"] == 6 and comparison["volatile"] == 0
    kinds = [
        (output["cell"], output["kind"], output["verdict"])
        for cell in comparison["cells"]
        for output in cell["outputs"]
    ]
    assert kinds == [
        (2, "table", "same"),
        (3, "stream", "same"),
        (4, "image/png", "same"),
        (5, "json", "same"),
        (6, "error", "same"),
        (7, "text/plain", "same"),
    ]
    json.dumps(comparison)  # --json carries it as it is


def test_a_changed_printed_mean_is_not_reproduced_and_names_both_values():
    recorded = analysis()
    rerun = changed(recorded, 3, text="mean density: 563.4\n")
    comparison = compare_notebooks(recorded, rerun)
    assert comparison["verdict"] == "not reproduced"
    [difference] = comparison["differences"]
    assert difference["cell"] == 3 and difference["kind"] == "stream" and difference["output"] == 0
    assert difference["first"] == "cell 3, stream: line 1: mean density: 542.6333333333333 != 563.4"


def test_numbers_within_the_tolerance_are_the_same_and_the_tolerance_can_be_set():
    recorded = notebook(
        ("print(0.1 + 0.2, 12.5)", [stream("0.30000000000000004 12.5\n")]), ("x", [plain("array([1.0000000001, 2.])")])
    )
    rerun = notebook(("print(0.1 + 0.2, 12.5)", [stream("0.3   12.5\n")]), ("x", [plain("array([1., 2.])")]))
    assert compare_notebooks(recorded, rerun)["verdict"] == "reproduced"
    farther = notebook(("print(0.1 + 0.2, 12.5)", [stream("0.3 13.1\n")]), ("x", [plain("array([1., 2.])")]))
    assert (
        compare_notebooks(recorded, farther)["differences"][0]["first"]
        == "cell 1, stream: line 1: 0.30000000000000004 12.5 != 13.1"
    )
    assert compare_notebooks(recorded, farther, OutputSettings(rel_tolerance=0.05))["verdict"] == "reproduced"
    assert compare_notebooks(recorded, farther, OutputSettings(abs_tolerance=0.7))["verdict"] == "reproduced"
    versions = notebook(("print(version)", [stream("tqdm 4.0.0\n")]))
    assert (
        "'tqdm 4.0.0' != 'tqdm 4.67.1'"
        in compare_notebooks(versions, notebook(("print(version)", [stream("tqdm 4.67.1\n")])))["differences"][0][
            "first"
        ]
    )


def test_a_table_with_one_value_changed_names_the_row_and_the_column():
    recorded = analysis()
    broken = AREAS.copy()
    broken.loc["Wisconsin", "density"] = 4187.0
    rerun = copy.deepcopy(recorded)
    rerun.cells[2].outputs[0] = frame_output(broken)
    [difference] = compare_notebooks(recorded, rerun)["differences"]
    assert difference["kind"] == "table" and difference["cell"] == 2
    assert difference["first"] == "cell 2, table: row 'Wisconsin', column 'density': 101.2 != 4187.0"
    assert (difference["row"], difference["column"], difference["recorded"], difference["reproduced"]) == (
        "Wisconsin",
        "density",
        "101.2",
        "4187.0",
    )
    close = AREAS.copy()
    close.loc["Wisconsin", "density"] = 101.2 + 1e-9  # printed as 101.2 or within the tolerance: the same
    rerun.cells[2].outputs[0] = frame_output(close)
    assert compare_notebooks(recorded, rerun)["verdict"] == "reproduced"
    reordered = AREAS.sort_values("density")
    rerun.cells[2].outputs[0] = frame_output(reordered)
    assert (
        compare_notebooks(recorded, rerun)["differences"][0]["first"] == "cell 2, table: row 0: 'Ohio' != 'Wisconsin'"
    )


def test_multi_index_tables_name_each_level():
    frame = pd.DataFrame(
        {"value": [1.5, 2.5, 3.5, 4.5]},
        index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1), ("b", 2)], names=["group", "step"]),
    )
    other = frame.copy()
    other.loc[("b", 2), "value"] = 9.5
    [difference] = compare_notebooks(
        notebook(("frame", [frame_output(frame)])), notebook(("frame", [frame_output(other)]))
    )["differences"]
    assert difference["first"] == "cell 1, table: row 'b / 2', column 'value': 4.5 != 9.5"


def test_images_by_ssim_a_re_encoded_chart_passes_a_different_one_fails():
    recorded = notebook(("chart()", [figure_output(png())]))
    re_encoded = notebook(("chart()", [figure_output(png(compress_level=1))]))
    assert png() != png(compress_level=1)
    comparison = compare_notebooks(recorded, re_encoded)
    assert comparison["verdict"] == "reproduced" and comparison["cells"][0]["outputs"][0]["similarity"] == 1.0
    slightly = notebook(("chart()", [figure_output(png(draw_bars=(40, 70, 55, 89)))]))  # one bar a pixel lower
    output = compare_notebooks(recorded, slightly)["cells"][0]["outputs"][0]
    assert output["verdict"] == "same" and 0.98 <= output["similarity"] < 1.0
    different = notebook(("chart()", [figure_output(png(draw_bars=(90, 20, 55, 40)))]))
    [difference] = compare_notebooks(recorded, different)["differences"]
    assert difference["kind"] == "image/png" and difference["similarity"] < 0.98
    assert re.fullmatch(r"cell 1, image/png: SSIM 0\.\d{4} < 0\.98 \(the images differ\)", difference["first"])
    assert compare_notebooks(recorded, different, OutputSettings(image_similarity=0.5))["verdict"] == "reproduced"
    resized = notebook(("chart()", [figure_output(png(size=(200, 120)))]))
    assert (
        compare_notebooks(recorded, resized)["differences"][0]["first"] == "cell 1, image/png: size 160x120 != 200x120"
    )
    corrupt = notebook(("chart()", [figure_output("<redacted>")]))  # what packages held before they kept images
    assert "cannot be read" in compare_notebooks(corrupt, recorded)["differences"][0]["first"]


VOLATILE_PAIRS = [
    ("<object object at 0x7f3a2b1c0d90>", "<object object at 0x7f11aa22bb30>"),
    ("finished at 2026-12-03 10:04:05.123456\n", "finished at 2027-01-09 23:59:01.000001\n"),
    ("datetime.datetime(2026, 12, 3, 10, 4, 5, 123456)", "datetime.datetime(2027, 1, 9, 23, 59, 1, 1)"),
    (
        "CPU times: user 1.21 ms, sys: 0 ns, total: 1.21 ms\nWall time: 1.5 ms\n",
        "CPU times: user 3 ms, sys: 1 ms, total: 4 ms\nWall time: 4.02 ms\n",
    ),
    (
        "1.23 µs ± 4.5 ns per loop (mean ± std. dev. of 7 runs, 1,000,000 loops each)\n",
        "2.01 µs ± 80 ns per loop (mean ± std. dev. of 7 runs, 100,000 loops each)\n",
    ),
    ("wrote /tmp/tmpab12_xyz/result.csv\n", "wrote /tmp/tmp9f8e7d6c/result.csv\n"),
    (
        "fit:  50%|█████     | 2/4 [00:00<00:00, 30.1it/s]\rfit: 100%|██████████| 4/4 [00:00<00:00, 1234.5it/s]\n",
        "fit: 100%|██████████| 4/4 [00:01<00:00, 3.2it/s]\n",
    ),
    (
        "worker pid 1234 ready, kernel-3c4d2a1e-aaaa-bbbb-cccc-0123456789ab.json\n",
        "worker pid 98 ready, kernel-0f0f0f0f-1111-2222-3333-444455556666.json\n",
    ),
]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    VOLATILE_PAIRS,
    ids=["address", "now", "datetime-repr", "time", "timeit", "tmp", "progress", "pid"],
)
def test_volatile_content_is_masked_and_counted(ours, theirs):
    comparison = compare_notebooks(notebook(("run()", [stream(ours)])), notebook(("run()", [stream(theirs)])))
    assert comparison["verdict"] in ("reproduced", "nothing compared") and comparison["differences"] == []
    assert comparison["volatile"] == 1
    [output] = comparison["cells"][0]["outputs"]
    if output["verdict"] == "same":  # some words are left to compare: it was compared, masked
        assert output["masked"] is True and comparison["compared"] == 1
    else:  # nothing but volatile content: not compared
        assert (
            output["verdict"] == "volatile"
            and comparison["compared"] == 0
            and comparison["verdict"] == "nothing compared"
        )


def test_a_result_beside_volatile_lines_is_still_compared():
    recorded = notebook(
        ("%%time\nfit()", [stream("CPU times: user 1 s, sys: 0 ns, total: 1 s\nWall time: 1.1 s\nloss 0.25\n")])
    )
    same = notebook(
        ("%%time\nfit()", [stream("CPU times: user 2 s, sys: 1 ns, total: 2 s\nWall time: 2 s\nloss 0.25\n")])
    )
    worse = notebook(
        ("%%time\nfit()", [stream("CPU times: user 2 s, sys: 1 ns, total: 2 s\nWall time: 2 s\nloss 0.5\n")])
    )
    assert compare_notebooks(recorded, same)["verdict"] == "reproduced"
    assert compare_notebooks(recorded, worse)["differences"][0]["first"] == "cell 1, stream: line 3: loss 0.25 != 0.5"


def test_stderr_is_one_text_apart_and_a_warning_or_a_font_cache_line_is_volatile():
    warning = "/venv/lib/python3.11/site-packages/pandas/core/frame.py:123: FutureWarning: old\n  return x\n"
    recorded = notebook(("fit()", [stream("epoch 1\n"), stream(warning, "stderr"), stream("epoch 2\n"), plain("0.5")]))
    rerun = notebook(
        ("fit()", [stream("epoch 1\nepoch 2\n"), plain("0.5")])
    )  # stdout in one piece, no warning this time
    comparison = compare_notebooks(recorded, rerun)
    assert comparison["verdict"] == "reproduced", comparison["differences"]
    assert comparison["compared"] == 2 and comparison["volatile"] == 1
    font = notebook(("plot()", [stream("Matplotlib is building the font cache; this may take a moment.\n", "stderr")]))
    assert compare_notebooks(font, notebook(("plot()", [])))["verdict"] == "nothing compared"
    logged = notebook(("fit()", [stream("INFO fitted 3 models\n", "stderr")]))
    assert (
        compare_notebooks(logged, notebook(("fit()", [stream("INFO fitted 4 models\n", "stderr")])))["differences"][0][
            "first"
        ]
        == "cell 1, stream: line 1: INFO fitted 3 != 4"
    )


def test_a_cell_tagged_volatile_is_not_compared():
    for tag in ("reef-volatile", "nbval-ignore-output"):
        cell = new_code_cell("random.random()", outputs=[plain("0.8444218515250481")], metadata={"tags": [tag]})
        other = new_code_cell("random.random()", outputs=[plain("0.7579544029403025")], metadata={"tags": [tag]})
        comparison = compare_notebooks(
            notebook(cell, ("1 + 1", [plain("2")])), notebook(other, ("1 + 1", [plain("2")]))
        )
        assert comparison["verdict"] == "reproduced" and comparison["compared"] == 1 and comparison["volatile"] == 1
    untagged = compare_notebooks(
        notebook(("random.random()", [plain("0.84")])), notebook(("random.random()", [plain("0.75")]))
    )
    assert untagged["verdict"] == "not reproduced"


def test_the_manifests_outputs_settings_masks_tolerance_tags_and_a_bad_regex(tmp_path):
    manifest = {
        "name": "analysis",
        "version": "0.1.0",
        "workflows": {},
        "outputs": {
            "tolerance": {"rel": 0.01, "abs": 0},
            "image_similarity": 0.9,
            "masks": [{"pattern": r"run [0-9a-f]{8}", "replace": "run <id>"}, {"pattern": r"seed=(\d+)"}],
            "volatile_tags": ["random"],
        },
    }
    settings = OutputSettings.from_manifest(manifest, tmp_path / "solution.json")
    assert settings == OutputSettings(
        rel_tolerance=0.01,
        abs_tolerance=0.0,
        image_similarity=0.9,
        masks=(("run [0-9a-f]{8}", "run <id>"), (r"seed=(\d+)", "<masked>")),
        volatile_tags=("random",),
    )
    recorded = notebook(
        ("go()", [stream("run 0a1b2c3d: loss 0.500\n")]),
        new_code_cell("draw()", outputs=[plain("7")], metadata={"tags": ["random"]}),
    )
    rerun = notebook(
        ("go()", [stream("run ffee0011: loss 0.503\n")]),
        new_code_cell("draw()", outputs=[plain("3")], metadata={"tags": ["random"]}),
    )
    assert compare_notebooks(recorded, rerun)["verdict"] == "not reproduced"
    comparison = compare_notebooks(recorded, rerun, settings)
    assert (
        comparison["verdict"] == "reproduced"
        and comparison["volatile"] == 2
        and comparison["settings"]["masks"][0] == ["run [0-9a-f]{8}", "run <id>"]
    )
    assert OutputSettings.from_manifest({"name": "x"}, "solution.json") == OutputSettings()
    assert OutputSettings.from_manifest({"outputs": {"compare": False}}, "solution.json").compare is False
    manifest["outputs"]["masks"].append({"pattern": "unclosed (group"})
    with pytest.raises(ManifestError) as raised:
        OutputSettings.from_manifest(manifest, tmp_path / "solution.json")
    assert str(raised.value).startswith(
        f"{tmp_path / 'solution.json'}: /outputs/masks/2: 'unclosed (group' is not a regular expression"
    ) and "\n" not in str(raised.value)
    manifest["outputs"]["masks"][2] = {"pattern": "a", "replace": r"\3"}
    with pytest.raises(ManifestError, match="/outputs/masks/2: "):
        OutputSettings.from_manifest(manifest, "solution.json")


def test_the_schema_takes_the_outputs_settings_and_refuses_unknown_fields(tmp_path):
    (tmp_path / "main.ipynb").write_text(nbformat.writes(notebook(("1", []))))
    manifest = {"name": "analysis", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
    good = {
        **manifest,
        "outputs": {
            "compare": True,
            "tolerance": {"rel": 1e-3},
            "masks": [{"pattern": "x+"}],
            "image_similarity": 0.95,
            "volatile_tags": ["t"],
        },
    }
    assert validate_manifest(good, tmp_path / "solution.json") == []
    [problem] = validate_manifest({**manifest, "outputs": {"tolerence": {"rel": 1}}}, tmp_path / "solution.json")
    assert "/outputs" in problem and "tolerence" in problem
    [problem] = validate_manifest({**manifest, "outputs": {"image_similarity": 1.5}}, tmp_path / "solution.json")
    assert "/outputs/image_similarity" in problem


def test_compare_false_compares_no_output_but_still_names_changed_code():
    recorded = analysis()
    rerun = changed(recorded, 3, text="mean density: 1.0\n")
    rerun.cells[1].source = "import pandas"
    comparison = compare_notebooks(recorded, rerun, OutputSettings(compare=False))
    assert (comparison["verdict"], comparison["compared"], comparison["code_changed"]) == ("nothing compared", 0, [1])
    assert "outputs.compare" in comparison["skipped"]


def test_missing_and_extra_outputs_are_differences():
    recorded = notebook(("show()", [stream("a 1\n"), plain("2")]), ("more()", [plain("3")]))
    fewer = notebook(("show()", [stream("a 1\n")]), ("more()", [plain("3"), plain("4")]))
    differences = compare_notebooks(recorded, fewer)["differences"]
    assert [(difference["cell"], difference["kind"], difference["output"]) for difference in differences] == [
        (1, "missing output", 1),
        (2, "extra output", 1),
    ]
    assert (
        differences[0]["first"]
        == "cell 1, missing output: the recorded run showed text/plain '2' but the rerun does not"
    )
    assert differences[1]["first"] == "cell 2, extra output: the rerun shows text/plain '4' only"
    image_gone = compare_notebooks(
        notebook(("plot()", [figure_output(png())])), notebook(("plot()", [plain("<Figure size 160x120 with 1 Axes>")]))
    )
    assert (
        image_gone["differences"][0]["first"] == "cell 1, image/png: the rerun shows no image/png (it shows text/plain)"
    )


def test_a_widgets_model_id_is_ignored_and_its_text_compared():
    def slider(model_id: str, value: int):
        view = {"version_major": 2, "version_minor": 0, "model_id": model_id}
        return new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": view,
                "text/plain": f"IntSlider(value={value}, description='threshold')",
            },
        )

    recorded = notebook(("display(slider)", [slider("3c4d2a1e9f8b4c7d", 7)]))
    assert (
        compare_notebooks(recorded, notebook(("display(slider)", [slider("aa00bb11cc22dd33", 7)])))["verdict"]
        == "reproduced"
    )
    comparison = compare_notebooks(recorded, notebook(("display(slider)", [slider("aa00bb11cc22dd33", 8)])))
    assert comparison["differences"][0]["first"] == "cell 1, text/plain: line 1: IntSlider(value=7 != 8"


def test_metric_records_are_not_outputs():
    record = new_output(
        "display_data", data={RECORD_MIME: {"name": "accuracy", "value": 0.9}, "text/plain": "accuracy = 0.9"}
    )
    other = new_output(
        "display_data", data={RECORD_MIME: {"name": "accuracy", "value": 0.1}, "text/plain": "accuracy = 0.1"}
    )
    comparison = compare_notebooks(
        notebook(("reefnb.record(...)", [record])), notebook(("reefnb.record(...)", [other]))
    )
    assert (comparison["verdict"], comparison["compared"], comparison["cells"]) == ("nothing compared", 0, [])


def test_changed_code_is_named_and_the_injected_parameters_cell_is_left_out():
    recorded = analysis()
    rerun = copy.deepcopy(recorded)
    rerun.cells[3].source = "print('mean density:', areas.density.median())"
    injected = new_code_cell("# Parameters\nseed = 7\n", metadata={"tags": ["injected-parameters"]})
    rerun.cells.insert(1, injected)  # papermill's, only in the rerun: indices are the author's
    comparison = compare_notebooks(recorded, rerun)
    assert comparison["code_changed"] == [3] and comparison["verdict"] == "reproduced"
    assert [cell.get("code_changed", False) for cell in comparison["cells"]][1] is True


def test_cells_are_paired_by_id_when_both_notebooks_have_ids():
    recorded = analysis()
    rerun = copy.deepcopy(recorded)
    rerun.cells.insert(2, new_code_cell("areas.describe()", outputs=[plain("count 3")]))  # an evaluator's new cell
    comparison = compare_notebooks(recorded, rerun)
    assert comparison["verdict"] == "not reproduced"
    assert [(difference["kind"], difference["first"]) for difference in comparison["differences"]] == [
        (
            "extra output",
            "cell 2 (only in the rerun's notebook), extra output: the rerun shows text/plain 'count 3' only",
        )
    ]
    assert comparison["compared"] == 6


def test_a_notebook_that_shows_nothing_compares_nothing():
    quiet = notebook(("values = [v * v for v in range(10)]", []), ("_ = sum(values)", []))
    comparison = compare_notebooks(quiet, copy.deepcopy(quiet))
    assert (comparison["verdict"], comparison["compared"], comparison["volatile"], comparison["differences"]) == (
        "nothing compared",
        0,
        0,
        [],
    )


def test_differences_html_shows_the_cell_both_values_and_fetches_nothing():
    recorded = analysis()
    broken = AREAS.copy()
    broken.loc["Wisconsin", "density"] = 4187.0
    rerun = changed(recorded, 3, text="mean density: 563.4\n")
    rerun.cells[2].outputs[0] = frame_output(broken)
    rerun.cells[4].outputs[0] = figure_output(png(draw_bars=(90, 20, 55, 40)))
    rerun.cells[7].outputs[0] = plain("<object object at 0x7f0000000001>")  # masked in the diff too
    recorded.cells[7].outputs[0] = plain("<object object at 0x7fffffffffff>")
    comparison = compare_notebooks(recorded, rerun)
    assert [difference["cell"] for difference in comparison["differences"]] == [2, 3, 4]
    page = differences_html(comparison, recorded, rerun)
    assert 'id="reef-nbdiff-cell-2"' in page and 'id="reef-nbdiff-cell-3"' in page and "reef-nbdiff-cell-7" not in page
    assert "row &#x27;Wisconsin&#x27;, column &#x27;density&#x27;: 101.2 != 4187.0" in page
    assert (
        '<span class="reef-nbdiff-removed">-        &lt;td&gt;<mark>101.2</mark>&lt;/td&gt;</span>' in page
    )  # nbdime's line diff
    assert '<span class="reef-nbdiff-added">+        &lt;td&gt;<mark>4187.0</mark>&lt;/td&gt;</span>' in page
    assert '<span class="reef-nbdiff-removed">-  mean density: <mark>542.6333333333333</mark></span>' in page
    assert "542.6333333333333" in page and "563.4" in page and "print(&#x27;mean density:&#x27;" in page
    assert '<span class="reef-nbdiff-info">## modified /cells/3/outputs/0/text:</span>' in page  # nbdime's paths
    assert page.count('src="data:image/png;base64,') == 2  # the two charts side by side
    assert not re.search(r"<script|<link|@import|url\(|(?:src|href)=\"(?!data:)", page)
    assert differences_html(compare_notebooks(recorded, recorded), recorded, recorded) == ""
    rerun.cells.insert(3, new_code_cell("print('new')", outputs=[stream("new\n")]))  # a cell only the rerun has
    page = differences_html(compare_notebooks(recorded, rerun), recorded, rerun)
    assert (
        'id="reef-nbdiff-cell-3-rerun"' in page and 'id="reef-nbdiff-cell-3"' in page
    )  # the rerun's cell 3 and the recorded cell 3
    assert "## added /cells/3:" in page and '<span class="reef-nbdiff-added">+          new</span>' in page


def test_fifty_outputs_of_every_kind_are_compared():
    """Fifty outputs of five kinds, ten of them with volatile parts; how long it takes is
    benchmarks/outputs_compare.py's to measure (tests never assert on wall-clock time)."""
    cells = []
    for number in range(10):
        frame = pd.DataFrame(
            {"value": [number * 1.5 + row for row in range(20)], "name": [f"r{row}" for row in range(20)]}
        )
        cells += [
            (f"frame{number}", [frame_output(frame)]),
            (
                f"print(stat{number})",
                [
                    stream(
                        f"mean {number * 0.1 + 0.30000000000000004} at 2026-12-03 10:04:0{number} from <object "
                        f"object at 0x7f00{number:08x}>\n"
                    )
                ],
            ),
            (f"x{number}", [plain(f"array([{number}.5, 2.25, 3.125])")]),
            (
                f"j{number}",
                [
                    new_output(
                        "display_data", data={"application/json": {"n": number, "values": [0.1, 0.2], "label": "ok"}}
                    )
                ],
            ),
            (f"err{number}", [new_output("error", ename="KeyError", evalue=f"'k{number}'", traceback=[])]),
        ]
    recorded = notebook(*cells)
    rerun = copy.deepcopy(recorded)
    comparison = compare_notebooks(recorded, rerun)
    assert comparison["compared"] == 50 and comparison["volatile"] == 10 and comparison["verdict"] == "reproduced"


# --- real kernels: the same notebook run twice --------------------------------------------------------

TINY = [
    "import datetime\nimport pandas as pd\nframe = pd.DataFrame({'state': ['Ohio', 'Utah'], 'density': [263.5, "
    "39.7]}).set_index('state')\nframe",
    "print('mean density:', frame.density.mean())",
    "object()",
    "print('finished at', datetime.datetime.now())",
]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[dict, dict]:
    """A tiny notebook executed twice by papermill on the python3 kernel (one kernel each): the recorded
    run's notebook and the rerun's."""
    import papermill

    folder = tmp_path_factory.mktemp("two-runs")
    source = new_notebook(cells=[new_code_cell(code) for code in TINY])
    source.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(source, folder / "tiny.ipynb")
    made = []
    for name in ("recorded", "rerun"):
        papermill.execute_notebook(
            str(folder / "tiny.ipynb"),
            str(folder / f"{name}.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            cwd=str(folder),
        )
        made.append(
            json.loads((folder / f"{name}.ipynb").read_text())
        )  # as a package holds it: plain JSON, lists of lines
    return made[0], made[1]


def test_a_notebook_run_twice_reproduces_with_its_volatile_lines_masked(two_runs):
    recorded, rerun = two_runs
    texts = json.dumps(recorded), json.dumps(rerun)
    assert re.search(r"object at 0x[0-9a-f]+", texts[0]) and texts[0] != texts[1]  # the runs did differ
    comparison = compare_notebooks(recorded, rerun)
    assert comparison["verdict"] == "reproduced", comparison["differences"]
    kinds = [output["kind"] for cell in comparison["cells"] for output in cell["outputs"]]
    assert kinds == ["table", "stream", "text/plain", "stream"]
    assert comparison["compared"] == 4 and comparison["volatile"] == 2  # the object's address and datetime.now()
    rerun = copy.deepcopy(rerun)
    rerun["cells"][1]["outputs"][0]["text"] = ["mean density: 151.7\n"]
    [difference] = compare_notebooks(recorded, rerun)["differences"]
    assert difference["first"] == "cell 1, stream: line 1: mean density: 151.6 != 151.7"
    assert "151.7" in differences_html(compare_notebooks(recorded, rerun), recorded, rerun)

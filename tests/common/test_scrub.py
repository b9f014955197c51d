"""reefnb.common.scrub on executed notebooks: text meant for people is scrubbed, images, binary outputs, widget ids
and widget state are kept byte for byte, and nbformat's list-of-lines form stays valid."""

from __future__ import annotations

import base64
import io
import json
import random

import nbformat
import pytest
from PIL import Image

from reefnb.common.scrub import REDACTED, Scrubber, mime_kind, redact_secrets

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # the shape of a GitHub token
MODEL = "9ef579c7302f4398bb23352d1ab89a67"
OTHER_MODEL = "1a33ea5c50314f23bbbede19c826765a"


def png_bytes(seed: int, size: tuple[int, int] = (48, 32)) -> bytes:
    """A PNG of random pixels: its base64 is as random-looking as a token, what a secret detector would take."""
    generator = random.Random(seed)
    image = Image.frombytes("RGB", size, bytes(generator.randrange(256) for _ in range(size[0] * size[1] * 3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def lines_of(text: str, width: int = 76) -> list[str]:
    """Base64 as older notebooks store it: a list of lines, each ending in a newline."""
    return [text[index : index + width] + "\n" for index in range(0, len(text), width)]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """An executed notebook, as a kernel and nbclient write one, with every kind of output the scrubber judges."""
    folder = tmp_path_factory.mktemp("scrub") / "work"
    png, other = png_bytes(1), png_bytes(2)
    png_text, other_text = base64.b64encode(png).decode(), base64.b64encode(other).decode()
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {
                MODEL: {
                    "model_name": "IntSliderModel",
                    "state": {"layout": f"IPY_MODEL_{OTHER_MODEL}", "description": f"key {TOKEN}"},
                },
                OTHER_MODEL: {
                    "model_name": "ImageModel",
                    "state": {},
                    "buffers": [{"data": other_text, "encoding": "base64", "path": ["value"]}],
                },
            },
            "version_major": 2,
            "version_minor": 0,
        }
    }
    notebook.metadata["papermill"] = {"output_path": str(folder / "runs" / "r1" / "main.ipynb")}
    cell = nbformat.v4.new_code_cell("plot()")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"image/png": lines_of(png_text), "text/plain": ["<Figure size 640x480 with 1 Axes>"]}
        ),
        nbformat.v4.new_output("display_data", data={"image/png": other_text, "application/pdf": other_text}),
        nbformat.v4.new_output(
            "execute_result",
            data={
                "application/vnd.jupyter.widget-view+json": {"model_id": MODEL, "version_major": 2, "version_minor": 0},
                "text/plain": "IntSlider(value=3)",
            },
            execution_count=3,
        ),
        nbformat.v4.new_output("stream", name="stdout", text=f"mean 4.2\ntoken {TOKEN}\nread {folder}/data/x.csv\n"),
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": f'<p>{TOKEN}</p><img src="data:image/png;base64,{png_text}">',
                "application/json": {"key": TOKEN, "count": 3},
            },
        ),
        nbformat.v4.new_output(
            "error", ename="ValueError", evalue=f"bad {TOKEN}", traceback=[f"ValueError: bad {TOKEN}", "second frame"]
        ),
    ]
    attached = nbformat.v4.new_markdown_cell("![chart](attachment:chart.png)")
    attached["attachments"] = {"chart.png": {"image/png": png_text}}
    injected = nbformat.v4.new_code_cell(f'# Parameters\ntoken = "{TOKEN}"\n')
    injected.metadata["tags"] = ["injected-parameters"]  # papermill's cell of the run's parameters
    notebook.cells = [cell, attached, injected, nbformat.v4.new_code_cell(f"key = '{TOKEN}'")]
    text = nbformat.writes(notebook)
    return {
        "folder": folder,
        "original": json.loads(text),
        "scrubbed": json.loads(Scrubber(folder).notebook(text)),
        "png": png,
        "other": other,
    }


def test_images_keep_their_bytes_and_the_list_of_lines_form(executed):
    outputs = executed["scrubbed"]["cells"][0]["outputs"]
    original = executed["original"]["cells"][0]["outputs"]
    assert outputs[0]["data"]["image/png"] == original[0]["data"]["image/png"]  # a list of lines, as it was
    assert isinstance(outputs[0]["data"]["image/png"], list) and len(outputs[0]["data"]["image/png"]) > 1
    decoded = base64.b64decode("".join(outputs[0]["data"]["image/png"]))
    assert decoded == executed["png"]
    assert Image.open(io.BytesIO(decoded)).size == (48, 32)
    assert base64.b64decode(outputs[1]["data"]["image/png"]) == executed["other"]
    assert outputs[1]["data"]["application/pdf"] == original[1]["data"]["application/pdf"]
    attachment = executed["scrubbed"]["cells"][1]["attachments"]["chart.png"]["image/png"]
    assert base64.b64decode(attachment) == executed["png"]
    nbformat.validate(nbformat.from_dict(executed["scrubbed"]))  # still a valid notebook
    reread = nbformat.reads(json.dumps(executed["scrubbed"]), as_version=4)
    assert base64.b64decode(reread.cells[0].outputs[0].data["image/png"]) == executed["png"]


def test_widget_ids_and_state_are_kept(executed):
    view = executed["scrubbed"]["cells"][0]["outputs"][2]["data"]["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == MODEL
    state = executed["scrubbed"]["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert sorted(state) == sorted([MODEL, OTHER_MODEL])
    assert state[MODEL]["state"]["layout"] == f"IPY_MODEL_{OTHER_MODEL}"
    original = executed["original"]["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert state[OTHER_MODEL]["buffers"] == original[OTHER_MODEL]["buffers"]
    assert state[MODEL]["state"]["description"] == f"key {REDACTED}"  # text a person reads is still scrubbed


def test_secrets_and_paths_in_text_are_scrubbed(executed):
    outputs = executed["scrubbed"]["cells"][0]["outputs"]
    assert outputs[3]["text"] == [
        "mean 4.2\n",
        f"token {REDACTED}\n",
        "read ./data/x.csv\n",
    ]  # nbformat's lines, scrubbed
    html = outputs[4]["data"]["text/html"]
    assert TOKEN not in "".join(html) and REDACTED in "".join(html)
    assert (
        base64.b64decode("".join(html).split("base64,")[1].split('"')[0]) == executed["png"]
    )  # the embedded image is whole
    assert outputs[4]["data"]["application/json"] == {"key": REDACTED, "count": 3}
    assert outputs[5]["evalue"] == f"bad {REDACTED}" and outputs[5]["traceback"] == [
        f"ValueError: bad {REDACTED}",
        "second frame",
    ]
    assert outputs[0]["data"]["text/plain"] == ["<Figure size 640x480 with 1 Axes>"]
    assert executed["scrubbed"]["metadata"]["papermill"]["output_path"] == "./runs/r1/main.ipynb"
    assert str(executed["folder"]) not in json.dumps(executed["scrubbed"])


@pytest.mark.parametrize(
    "mime, kind",
    [
        ("image/png", "binary"),
        ("image/svg+xml", "binary"),
        ("application/pdf", "binary"),
        ("application/octet-stream", "binary"),
        ("text/plain", "text"),
        ("text/html", "text"),
        ("text/latex", "text"),
        ("application/javascript", "text"),
        ("application/json", "json"),
        ("application/vnd.reef.record+json", "json"),
        ("application/vnd.jupyter.widget-view+json", "widget-view"),
    ],
)
def test_mime_kinds(mime, kind):
    assert mime_kind(mime) == kind


def test_code_is_kept_but_a_runs_injected_parameters_are_scrubbed(executed):
    cells = executed["scrubbed"]["cells"]
    assert "".join(cells[2]["source"]) == f'# Parameters\ntoken = "{REDACTED}"\n'
    assert "".join(cells[3]["source"]) == f"key = '{TOKEN}'"  # the author's code is exported as written


def test_paths_holding_run_ids_are_kept_and_a_secret_beside_one_is_not():
    # one such path in six was redacted whole: the run id's hex raised the entropy of `results/ID/notebook`
    chosen = random.Random(7)
    for _ in range(300):
        run_id = f"2026{chosen.randrange(10**4):04d}T{chosen.randrange(10**6):06d}Z-{chosen.getrandbits(32):08x}"
        for path in (
            f"results/{run_id}/notebook.ipynb",
            f"./runs/{run_id}/benchmark.ipynb",
            f"runs/{run_id}/main.ipynb",
        ):
            assert redact_secrets(path) == path
    assert (
        redact_secrets("20261206T184430Z-7f492493/aB3xQ9zLmP0wRtY7uKc2VnE5sDf8GhJ")
        == "20261206T184430Z-7f492493<redacted>"
    )

"""The time `reef reproduce` adds per compared notebook: reefnb.analysis.outputs on notebooks of 50 outputs.

The notebook: 50 outputs in 50 cells, as pandas notebooks show them (10 frames of 20 rows as HTML and text,
10 printed lines with an address and a date-time to mask, 10 arrays, 10 JSON views, 10 errors). Measured,
median of the repeats, after one warm-up call:
- compare_notebooks of the notebook and a copy (every output compared, the volatile ones masked);
- the same with one 480x320 chart that was re-encoded (decoded by Pillow and compared by SSIM), and the
  first SSIM in a fresh interpreter (importing scikit-image's metrics);
- differences_html with three differing cells (nbdime's diff and pretty printer), and its first call in
  a fresh interpreter (importing nbdime).
Run: .venv/bin/python benchmarks/outputs_compare.py [REPEATS]   (default 20)
"""

from __future__ import annotations

import base64
import copy
import io
import statistics
import subprocess
import sys
import time

import pandas as pd
from nbformat.v4 import new_code_cell, new_notebook, new_output
from PIL import Image, ImageDraw

from reefnb.analysis.outputs import compare_notebooks, differences_html


def chart(level: int, heights=(40, 70, 55, 90, 20, 65)) -> str:
    image = Image.new("RGB", (480, 320), "white")
    pen = ImageDraw.Draw(image)
    pen.line([(40, 10), (40, 290), (470, 290)], fill="black", width=2)
    for number, percent in enumerate(heights):
        left = 55 + number * 68
        pen.rectangle([(left, 290 - int(260 * percent / 100)), (left + 50, 289)], fill=(76, 114, 176))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return base64.b64encode(buffer.getvalue()).decode()


def fifty_outputs():
    cells = []
    for number in range(10):
        frame = pd.DataFrame(
            {"value": [number * 1.5 + row / 7 for row in range(20)], "name": [f"r{row}" for row in range(20)]}
        )
        printed = (
            f"mean {number * 0.1 + 0.30000000000000004} at 2026-12-03 10:04:0{number} from <object object at "
            f"0x7f00{number:08x}>\n"
        )
        table = {"text/plain": repr(frame), "text/html": frame._repr_html_()}
        cells += [
            new_code_cell(f"frame{number}", outputs=[new_output("execute_result", data=table, execution_count=1)]),
            new_code_cell(f"print(stat{number})", outputs=[new_output("stream", name="stdout", text=printed)]),
            new_code_cell(
                f"x{number}",
                outputs=[
                    new_output(
                        "execute_result", data={"text/plain": f"array([{number}.5, 2.25, 3.125])"}, execution_count=1
                    )
                ],
            ),
            new_code_cell(
                f"j{number}",
                outputs=[
                    new_output(
                        "display_data", data={"application/json": {"n": number, "values": [0.1, 0.2], "label": "ok"}}
                    )
                ],
            ),
            new_code_cell(
                f"err{number}", outputs=[new_output("error", ename="KeyError", evalue=f"'k{number}'", traceback=[])]
            ),
        ]
    return new_notebook(cells=cells)


def with_chart(notebook, image: str):
    notebook = copy.deepcopy(notebook)
    notebook.cells.append(
        new_code_cell(
            "plot()", outputs=[new_output("display_data", data={"image/png": image, "text/plain": "<Figure>"})]
        )
    )
    return notebook


def median_ms(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def fresh_ms(code: str) -> float:
    """The first call in a new interpreter: what one `reef reproduce` pays once."""
    script = (
        "import time\nfrom benchmarks.outputs_compare import *\nstart = "
        f"time.perf_counter()\n{code}\nprint((time.perf_counter() - start) * 1000)"
    )
    return float(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()[-1]
    )


def main(repeats: int) -> None:
    recorded = fifty_outputs()
    rerun = copy.deepcopy(recorded)
    comparison = compare_notebooks(recorded, rerun)
    assert comparison["compared"] == 50 and comparison["volatile"] == 10, comparison["verdict"]
    print(f"compare_notebooks, 50 outputs: {median_ms(lambda: compare_notebooks(recorded, rerun), repeats):.1f} ms")
    charted, re_encoded = with_chart(recorded, chart(6)), with_chart(rerun, chart(1))
    assert compare_notebooks(charted, re_encoded)["verdict"] == "reproduced"
    print(
        "  with a re-encoded 480x320 chart (Pillow + SSIM): "
        f"{median_ms(lambda: compare_notebooks(charted, re_encoded), repeats):.1f} ms"
    )
    first = "compare_notebooks(with_chart(fifty_outputs(), chart(6)), with_chart(fifty_outputs(), chart(1)))"
    print(f"  the same, first call in a fresh interpreter (imports scikit-image's metrics): {fresh_ms(first):.0f} ms")
    broken = copy.deepcopy(rerun)
    for number in (0, 6, 17):
        output = broken.cells[number].outputs[0]
        if "text" in output:
            output["text"] = output["text"].replace("mean", "median")
        else:
            data = output["data"]
            output["data"] = {
                mime: value.replace("1.5", "2.5").replace("3.125", "4.125") if isinstance(value, str) else value
                for mime, value in data.items()
            }
    differing = compare_notebooks(recorded, broken)
    assert len(differing["differences"]) == 3, differing["differences"]
    print(
        "differences_html, 3 differing cells: "
        f"{median_ms(lambda: differences_html(differing, recorded, broken), repeats):.1f} ms"
    )
    code = "broken = fifty_outputs(); broken.cells[1].outputs[0]['text'] = 'other'; recorded = fifty_outputs()\n"
    code += "differences_html(compare_notebooks(recorded, broken), recorded, broken)"
    print(f"  first call in a fresh interpreter (imports nbdime): {fresh_ms(code):.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)

"""reefnb.frontends.provision_text: the provision stage's data as text for people (`reef detect`, `reef init`'s plan,
`reef require`'s declaration), made from the real data the stage returns."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import numpy

from reefnb.frontends.provision_text import declaration_lines, fingerprint_text, plan_lines
from reefnb.provision import detection
from reefnb.provision.declare import declare_packages
from reefnb.provision.install import check_against
from reefnb.solution.manifest import load_solution

HELLO = Path(__file__).resolve().parents[2] / "solutions" / "hello-sweep"


def test_fingerprint_text_says_what_was_found():
    fingerprint = detection.detect()
    text = fingerprint_text(fingerprint)
    assert fingerprint["cpu"]["model"] in text
    assert f"{fingerprint['memory']['total_bytes'] / 1024**3:.1f} GiB" in text
    assert f"Packages:    {len(fingerprint['packages'])} installed" in text
    for name, found in fingerprint["tools"].items():
        assert f"{name} {found['version'] or '(version unknown)'}" in text
    with_gpu = {"gpu": detection.parse_nvidia_smi("NVIDIA H200, 143771, 9.0, 570.124.06")}
    assert "nvidia NVIDIA H200 (140.4 GiB, compute capability 9.0, driver 570.124.06)" in fingerprint_text(with_gpu)
    assert fingerprint_text({"gpu": []}) == "GPUs:        none found"
    assert fingerprint_text({}) == ""


def test_a_plugin_detector_is_one_line_of_json_cut_at_200_characters():
    text = fingerprint_text({"demo": {"answer": 42}, "long": "x" * 500})
    lines = text.splitlines()
    assert lines[0] == 'demo:        {"answer": 42}'
    assert lines[1].startswith("long:        ") and lines[1].endswith("...") and len(lines[1]) == 13 + 200


def test_plan_lines_give_one_line_per_requirement():
    plan = check_against(load_solution(HELLO), sys.executable)
    lines = plan_lines(plan)
    assert lines[0] == f"hello-sweep@0.1.0 -> this python ({sys.executable})"
    numpy_line = next(line for line in lines if " numpy " in line)
    assert numpy_line.split()[:2] == ["found", "package"] and f"have {numpy.__version__}" in numpy_line
    assert len(lines) == 1 + len(plan.checks) + len(plan.artifacts)


def test_declaration_lines_say_where_and_warn_of_what_is_missing(tmp_path):
    notebook = tmp_path / "probe.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    declaration = declare_packages(["numpy", "reef-surely-not-installed-here>=1"], notebook=notebook)
    lines = declaration_lines(declaration)
    assert lines[0] == f"declared in {notebook.resolve()} (metadata.reef)"
    assert any(line.split()[:3] == ["found", "package", "numpy"] for line in lines)
    assert lines[-1].startswith("warning: reef-surely-not-installed-here>=1: not installed in this python")
    again = declaration_lines(declare_packages(["numpy"], notebook=notebook, remove=True))
    assert again[0] == f"removed from {notebook.resolve()} (metadata.reef)" and "  numpy" in again

"""reefnb.analysis.reproduce: real papermill reruns of hello-sweep (fixed seed) judged metric by metric."""

from __future__ import annotations

import io
import json

import pytest

import reefnb
from reefnb.analysis.reproduce import judge
from reefnb.common.exceptions import ReefError
from reefnb.frontends.cli import main
from reefnb.sharing.package import export_package


def test_package_round_trip_reproduces(hello, tmp_path, capsys):
    reefnb.run(hello, parameters={"samples": 3000, "method": "stratified", "seed": 7})
    package = tmp_path / "hello.reef.zip"
    export_package(hello, package)
    report_path = tmp_path / "report.json"
    code = main(
        ["reproduce", str(package), "--trust", "--folder", str(tmp_path / "here"), "--report", str(report_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pi_estimate: reproduced" in out and "time_ms: informational" in out and "REPRODUCED" in out
    report = json.loads(report_path.read_text())
    assert report["verdict"] == "reproduced" and report["counts"]["not reproduced"] == 0
    assert "Results Reproduced" in report["badges"]
    assert [experiment["parameters"] for experiment in report["experiments"]][-1] == {
        "samples": 3000,
        "method": "stratified",
        "seed": 7,
    }


def test_package_needs_trust(hello, tmp_path):
    package = tmp_path / "hello.reef.zip"
    export_package(hello, package)
    with pytest.raises(ReefError, match="--trust"):
        reefnb.reproduce_solution(package, folder=tmp_path / "here")
    assert not (tmp_path / "here").exists()


def test_tampered_expected_value_is_not_reproduced(hello, tmp_path, capsys):
    manifest = json.loads((hello / "solution.json").read_text())
    manifest.pop("claims", None)  # they cite the expectations replaced here
    manifest["expected"] = [
        {
            "parameters": {"samples": 400, "method": "random"},
            "metrics": {
                "points": {"value": 401},
                "pi_estimate": {"value": 3.0, "tolerance": {"rel": 1e-6}},
                "nowhere": {"value": 1},
            },
        }
    ]
    (hello / "solution.json").write_text(json.dumps(manifest))
    code = main(["reproduce", str(hello), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["verdict"] == "not reproduced"
    metrics = report["experiments"][0]["metrics"]
    assert metrics["points"]["verdict"] == "not reproduced" and metrics["points"]["got"] == 400
    assert metrics["pi_estimate"]["verdict"] == "not reproduced" and metrics["pi_estimate"]["relative_difference"] > 0
    assert metrics["nowhere"]["verdict"] == "missing"
    assert (hello / "reproduce-report.json").is_file()
    assert "Results Reproduced" not in report["badges"]


def test_judge_tolerances():
    assert judge(1.0, 1.05, {"abs": 0.1})["verdict"] == "reproduced"
    assert judge(1.0, 1.05, {"abs": 0.01})["verdict"] == "not reproduced"
    assert judge(1.0, 1.05, {"abs": 0.01}, scale=10)["verdict"] == "reproduced"
    assert judge(100.0, 100.5, {"rel": 0.01})["verdict"] == "reproduced"
    assert judge(3, 3, {})["verdict"] == "reproduced"
    assert judge("a", "b", {})["verdict"] == "not reproduced"
    assert judge(5.0, 900.0, {"informational": True})["verdict"] == "informational"
    assert judge(5, None, {})["verdict"] == "missing"


def test_profiles_and_claims(hello, tmp_path):
    """hello-sweep declares smoke and full profiles and two claims; the report is organised by claim."""
    from reefnb.frontends.cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    code = cli_main(["reproduce", str(hello), "--profile", "smoke", "--json"], out=out, err=err)
    assert code == 0, err.getvalue()
    report = json.loads(out.getvalue())
    assert [experiment["id"] for experiment in report["experiments"]] == ["stratified-10k"]
    claims = {claim["id"]: claim for claim in report["claims"]}
    assert claims["C1"]["verdict"] == "reproduced" and claims["C1"]["metrics"] == {
        "stratified-10k.abs_error": "reproduced"
    }
    assert claims["C2"]["verdict"] == "not checked"
    assert report["profile"]["name"] == "smoke" and report["profile"]["elapsed_minutes"] < 30

    manifest = json.loads((hello / "solution.json").read_text())
    manifest["expected"][0]["metrics"]["abs_error"]["tolerance"] = {"abs": 1e-12}
    (hello / "solution.json").write_text(json.dumps(manifest))
    out = io.StringIO()
    assert cli_main(["reproduce", str(hello), "--profile", "smoke"], out=out, err=err) == 1
    assert "claim C1: NOT REPRODUCED: Stratified sampling" in out.getvalue()
    assert cli_main(["reproduce", str(hello), "--profile", "huge"], out=io.StringIO(), err=err) == 2
    assert "no profile 'huge' (declared: full, smoke)" in err.getvalue()


def test_export_writes_claims_and_how_to_check_them(hello, tmp_path):
    import zipfile

    from reefnb.sharing.package import export_package

    package = tmp_path / "hello.reef.zip"
    export_package(hello, package)
    readme = zipfile.ZipFile(package).read("README.md").decode()
    assert "## Claims and how to check them" in readme
    assert "### C1: Stratified sampling estimates pi within 0.01 from 10,000 points." in readme
    assert "--profile smoke" in readme and "-p samples 10000 -p method stratified" in readme
    assert "abs_error = 0.0 ± 0.01" in readme

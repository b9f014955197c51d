"""Hostile paths (issue 15, case 4): a manifest naming a notebook, a reference CSV or a file: URL outside its
solution folder (``../x``, an absolute path, a symbolic link out) is refused by ``reef validate``, ``reef run``
(before any kernel starts) and the JupyterLab server; no message quotes what a file holds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.cli import call
from helpers.solutions import write_notebook

from reefnb import run
from reefnb.analysis.dashboard import reference_frame
from reefnb.common.exceptions import ManifestError, ReefError
from reefnb.provision.artifacts import ArtifactError, fetch_artifact
from reefnb.solution.manifest import Solution, Workflow, load_solution

SECRET = "TOPSECRET-7f3a9c"
LEAVES = "path leaves the solution folder"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the solution: a notebook that leaves a mark when it runs, and files holding a secret."""
    folder = tmp_path / "outside"
    write_notebook(folder / "x.ipynb", "x = 1", f"open({str(folder / 'RAN')!r}, 'w').write('ran')")
    (folder / "secret.ipynb").write_text(f"{SECRET} is not JSON", encoding="utf-8")
    (folder / "secret.csv").write_text(f"{SECRET},value\nrow,1\n", encoding="utf-8")
    (folder / "secret.bin").write_text(SECRET, encoding="utf-8")
    return folder


def solution(tmp_path: Path, notebook: str | None = None, **extra) -> Path:
    """A solution folder whose run workflow names ``notebook`` (default: its own main.ipynb)."""
    folder = tmp_path / "solution"
    write_notebook(folder / "main.ipynb", "x = 1", "print(x)")
    manifest = {
        "name": "victim",
        "version": "0.1.0",
        "workflows": {"run": {"notebook": notebook or "main.ipynb"}},
        **extra,
    }
    (folder / "solution.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def escapes(outside: Path, folder: Path, target: str = "x.ipynb") -> dict[str, str]:
    """The ways out, each as the path a manifest gives: a '..', an absolute path, a link, a link to a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "link.ipynb").symlink_to(outside / target)
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    return {
        "dotdot": f"../outside/{target}",
        "absolute": str(outside / target),
        "link": "link.ipynb",
        "folder link": f"linked/{target}",
    }


WAYS = ["dotdot", "absolute", "link", "folder link"]


def error_lines(err: str) -> list[str]:
    return [line.removeprefix("reef: error: ") for line in err.strip().splitlines()]


def no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


@pytest.mark.parametrize("way", WAYS)
def test_validate_refuses_a_workflow_notebook_outside(tmp_path, outside, way):
    path = escapes(outside, tmp_path / "solution")[way]
    folder = solution(tmp_path, path)

    code, out, err = call("validate", str(folder))

    assert code == 2 and out == ""
    assert error_lines(err) == [f"{folder / 'solution.json'}: /workflows/run/notebook: {LEAVES}"]


@pytest.mark.parametrize("way", WAYS)
def test_run_refuses_before_any_kernel_starts(tmp_path, outside, way):
    path = escapes(outside, tmp_path / "solution")[way]
    folder = solution(tmp_path, path)

    code, out, err = call("run", str(folder))

    assert code == 2 and len(err.strip().splitlines()) == 1 and f"/workflows/run/notebook: {LEAVES}" in err
    assert not (outside / "RAN").exists() and not (folder / "runs").exists()
    with pytest.raises(ManifestError, match=LEAVES):
        run(folder, store=False)
    assert not (outside / "RAN").exists()


def test_a_solution_built_by_hand_cannot_run_a_notebook_outside(tmp_path, outside):
    folder = solution(tmp_path)
    data = json.loads((folder / "solution.json").read_text())
    forged = Solution(
        folder, folder / "solution.json", data, {"run": Workflow("run", folder / ".." / "outside" / "x.ipynb")}
    )

    with pytest.raises(ReefError, match=f"/workflows/run/notebook: {LEAVES}"):
        run(forged, store=False)
    assert not (outside / "RAN").exists() and not (folder / "runs").exists()


@pytest.mark.parametrize("way", WAYS)
def test_a_secret_outside_is_never_quoted(tmp_path, outside, way):
    path = escapes(outside, tmp_path / "solution", "secret.ipynb")[way]
    folder = solution(tmp_path, path)

    for verb in ("validate", "run"):
        code, out, err = call(verb, str(folder))
        assert code == 2 and LEAVES in err
        no_secret(out, err)


def test_a_notebook_that_is_not_json_is_named_not_quoted(tmp_path):
    folder = solution(tmp_path)
    (folder / "main.ipynb").write_text(f"{SECRET} is not JSON", encoding="utf-8")

    code, out, err = call("validate", str(folder))

    assert code == 2
    assert f"{folder / 'main.ipynb'}: not a notebook (not JSON: line 1 column 1)" in err
    no_secret(out, err)


@pytest.mark.parametrize("way", WAYS)
def test_a_reference_csv_outside_is_refused(tmp_path, outside, way):
    path = escapes(outside, tmp_path / "solution", "secret.csv")[way]
    folder = solution(tmp_path, dashboard={"reference": path})

    code, out, err = call("validate", str(folder))

    assert code == 2 and error_lines(err) == [f"{folder / 'solution.json'}: /dashboard/reference: {LEAVES}"]
    forged = load_solution(solution(tmp_path))  # a valid solution, its manifest data changed after validation
    forged.data["dashboard"] = {"reference": path}
    with pytest.raises(ReefError) as caught:
        reference_frame(forged)
    assert str(caught.value) == f"{folder / 'solution.json'}: /dashboard/reference: {LEAVES}"


def test_a_reference_csv_without_label_names_no_column(tmp_path):
    folder = solution(tmp_path, dashboard={"reference": "published.csv"})
    (folder / "published.csv").write_text(f"{SECRET},value\nrow,1\n", encoding="utf-8")

    with pytest.raises(ReefError) as caught:
        reference_frame(load_solution(folder))

    assert "/dashboard/reference: needs a 'label' column" in str(caught.value) and "2 column names" in str(caught.value)
    no_secret(str(caught.value))


@pytest.mark.parametrize("url", ["file:../outside/secret.bin", "file:linked/secret.bin"])
def test_a_relative_file_url_outside_is_refused(tmp_path, outside, url):
    escapes(outside, tmp_path / "solution")
    spec = {"url": url, "sha256": "0" * 64}
    folder = solution(tmp_path, artifacts={"data": spec})

    code, out, err = call("validate", str(folder))

    assert code == 2 and error_lines(err) == [f"{folder / 'solution.json'}: /artifacts/data/url: {LEAVES}"]
    with pytest.raises(ArtifactError) as caught:
        fetch_artifact("data", {"data": spec}, manifest_path=folder / "solution.json")
    assert str(caught.value) == f"{folder / 'solution.json'}: /artifacts/data/url: {LEAVES}"
    no_secret(out, err, str(caught.value))


def test_links_inside_the_folder_are_fine(tmp_path):
    folder = solution(tmp_path)
    (folder / "notebooks").mkdir()
    os.replace(folder / "main.ipynb", folder / "notebooks" / "main.ipynb")
    (folder / "main.ipynb").symlink_to(Path("notebooks") / "main.ipynb")

    code, out, err = call("validate", str(folder))

    assert code == 0, err

"""Confinement (reefnb.solution.confinement): a path a manifest names leads inside its solution folder or is refused."""

from __future__ import annotations

import os

import pytest

from reefnb.common.exceptions import LEAVES_FOLDER, PathOutside
from reefnb.solution.confinement import is_inside, resolve_inside


@pytest.fixture
def folder(tmp_path):
    solution = tmp_path / "solution"
    (solution / "data").mkdir(parents=True)
    (solution / "data" / "ref.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside", encoding="utf-8")
    return solution


@pytest.mark.parametrize("name", ["data/ref.csv", "data/../data/ref.csv", "./data", "not-yet-written.ipynb"])
def test_names_that_stay_inside_resolve_to_their_real_place(folder, name):
    assert resolve_inside(folder, name) == (folder / name).resolve()
    assert is_inside(folder, name)


def test_a_link_inside_the_folder_resolves_to_its_target(folder):
    (folder / "link.csv").symlink_to(folder / "data" / "ref.csv")
    assert resolve_inside(folder, "link.csv") == (folder / "data" / "ref.csv").resolve()


@pytest.mark.parametrize("way", ["dotdot", "absolute", "link", "linked folder", "sibling prefix"])
def test_every_way_out_of_the_folder_is_refused_with_the_one_message(folder, way):
    outside = folder.parent / "secret.txt"
    name = {
        "dotdot": "data/../../secret.txt",
        "absolute": str(outside),
        "link": "out.txt",
        "linked folder": "up/secret.txt",
        "sibling prefix": "../solution-other/x",  # a name that starts like the folder is not inside it
    }[way]
    (folder / "out.txt").symlink_to(outside)
    (folder / "up").symlink_to(folder.parent, target_is_directory=True)
    with pytest.raises(PathOutside) as refused:
        resolve_inside(folder, name)
    assert str(refused.value) == LEAVES_FOLDER and "outside" not in str(refused.value)
    assert not is_inside(folder, name)


@pytest.mark.parametrize("name", ["nul\x00byte", "loop"])
def test_a_name_that_cannot_be_resolved_is_refused_as_unusable(folder, name):
    os.symlink("loop", folder / "loop")  # a link to itself: resolving it never ends
    with pytest.raises(PathOutside, match="not a usable file name"):
        resolve_inside(folder, name)
    assert not is_inside(folder, name)

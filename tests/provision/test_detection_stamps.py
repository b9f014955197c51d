"""reefnb.provision.detection.stamps: the cheap stamps a detector's signature is made of."""

from __future__ import annotations

import os

from reefnb.provision.detection import stamps
from reefnb.provision.detection.base import DetectContext


def test_a_file_stamp_changes_with_the_file_and_follows_links(tmp_path):
    target = tmp_path / "tool"
    target.write_text("one")
    link = tmp_path / "link"
    link.symlink_to(target)
    first = stamps.file_stamp(str(link))
    assert first[0] == str(target.resolve()) and first[2] == 3
    target.write_text("longer")
    assert stamps.file_stamp(str(link)) != first
    assert stamps.file_stamp(str(tmp_path / "missing")) is None


def test_a_folder_stamp_counts_its_entries(tmp_path):
    before = stamps.folder_stamp(str(tmp_path))
    (tmp_path / "new").write_text("")
    after = stamps.folder_stamp(str(tmp_path))
    assert before[0] == after[0] == str(tmp_path) and (before[2], after[2]) == (0, 1)
    assert stamps.folder_stamp(str(tmp_path / "gone")) == [str(tmp_path / "gone"), None, None]


def test_path_folders_keep_the_order_once_each(monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join(["/b", "/a", "", "/b", "/c"]))
    assert stamps.path_folders() == ["/b", "/a", "/c"]


def test_an_environment_signature_stamps_its_interpreter_and_site_folders():
    context = DetectContext()
    signature = stamps.environment_signature(context)
    assert signature["interpreter"] == stamps.file_stamp(context.python)
    assert [folder[0] for folder in signature["folders"]] == context.facts()["site_folders"]

"""Where reef keeps its state (reefnb.common.paths): $REEF_HOME or ~/.reef, and the folders under it."""

from __future__ import annotations

from pathlib import Path

from reefnb.common.paths import envs_home, reef_home, solutions_home


def test_reef_home_is_the_variable_and_the_folders_are_under_it_and_nothing_is_made(tmp_path, monkeypatch):
    monkeypatch.setenv("REEF_HOME", str(tmp_path / "state"))
    assert reef_home() == tmp_path / "state"
    assert envs_home() == tmp_path / "state" / "envs"
    assert solutions_home() == tmp_path / "state" / "solutions"
    assert not (tmp_path / "state").exists()


def test_an_unset_or_empty_variable_means_the_home_s_dot_reef(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "someone"))
    monkeypatch.setenv("REEF_HOME", "")
    assert reef_home() == tmp_path / "someone" / ".reef"
    monkeypatch.delenv("REEF_HOME")
    assert reef_home() == tmp_path / "someone" / ".reef"


def test_a_tilde_in_the_variable_is_the_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "someone"))
    monkeypatch.setenv("REEF_HOME", "~/elsewhere")
    assert reef_home() == tmp_path / "someone" / "elsewhere"
    assert reef_home().is_absolute() and isinstance(reef_home(), Path)

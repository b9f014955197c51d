"""Local solutions (reefnb.provision.initialised): the index of initialised solutions under REEF_HOME, and the origin
and trust of folders made from packages. Environments here are their description alone (nothing installed)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest

from reefnb.common.exceptions import ReefError
from reefnb.common.paths import envs_home, solutions_home
from reefnb.provision.envs import ENV_FILE, Environment, kernel_name
from reefnb.provision.initialised import (
    ORIGIN_NAME,
    activation,
    find_solution,
    list_solutions,
    package_origin,
    record_trust,
    refuse_untrusted,
    remember_solution,
    remove_solution,
    trust_decision,
    untrusted_origin,
    untrusted_source,
    write_origin,
)


def described_environment(name: str) -> Environment:
    """An environment as reef describes it, without an interpreter in it (enough to list, activate, remove)."""
    folder = envs_home() / name
    environment = Environment(name, str(folder), str(folder / "bin" / "python"), kernel_name(name), ["numpy"])
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_bytes(b"\0" * 1000)
    (folder / ENV_FILE).write_text(json.dumps(asdict(environment)), encoding="utf-8")
    return environment


def solution(folder: Path, name: str = "demo") -> SimpleNamespace:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.ipynb").write_text("{}", encoding="utf-8")
    return SimpleNamespace(name=name, version="1.0.0", path=folder)


def test_an_initialised_solution_is_listed_with_sizes_and_trust_and_found_by_name(tmp_path, private_jupyter):
    described_environment("demo-env")
    remember_solution(solution(tmp_path / "mine"), "demo-env")
    remember_solution(solution(tmp_path / "native", "native"), None)
    listed = {entry["name"]: entry for entry in list_solutions()}
    assert sorted(listed) == ["demo", "native"]
    demo = listed["demo"]
    assert demo["path"] == str((tmp_path / "mine").resolve()) and demo["exists"] and demo["version"] == "1.0.0"
    assert demo["trust"] == "own" and demo["environment_bytes"] > 1000 and demo["solution_bytes"] == 2
    assert listed["native"]["environment"] is None and listed["native"]["environment_bytes"] == 0
    assert find_solution("demo")["environment"] == "demo-env"
    with pytest.raises(ReefError, match=r"no initialised solution 'other' \(known: demo, native\)"):
        find_solution("other")


def test_activation_names_the_environment_s_activate_and_variables(tmp_path, private_jupyter):
    environment = described_environment("demo-env")
    remember_solution(solution(tmp_path / "mine"), "demo-env")
    remember_solution(solution(tmp_path / "native", "native"), None)
    found = activation("demo")
    assert found["source"] == f"source {environment.bin / 'activate'}" and found["environment"] == "demo-env"
    assert found["variables"]["VIRTUAL_ENV"] == environment.path
    assert found["variables"]["PATH"].startswith(f"{environment.bin}:")
    with pytest.raises(ReefError, match="initialised into the current python"):
        activation("native")


def test_removing_keeps_the_user_s_folder_and_a_shared_environment(tmp_path, private_jupyter):
    described_environment("shared")
    remember_solution(solution(tmp_path / "first", "first"), "shared")
    remember_solution(solution(tmp_path / "second", "second"), "shared")
    pulled = solution(solutions_home() / "pulled-1.0.0", "pulled")
    remember_solution(pulled, "shared")
    assert remove_solution("first") == {"name": "first", "environment": None, "folder": None}
    assert (tmp_path / "first").is_dir() and (envs_home() / "shared").is_dir()
    assert remove_solution("pulled") == {"name": "pulled", "environment": None, "folder": str(pulled.path.resolve())}
    assert not pulled.path.exists()
    assert remove_solution("second")["environment"] == "shared"  # the last one using it
    assert not (envs_home() / "shared").exists() and (tmp_path / "second").is_dir()
    assert list_solutions() == []


def test_a_folder_made_from_a_package_is_untrusted_until_trust_is_recorded(tmp_path):
    own = solution(tmp_path / "own").path
    package = solution(tmp_path / "from-package").path
    write_origin(package, tmp_path / "demo.reef.zip")
    assert package_origin(own) is None and trust_decision(own) == {"trust": "own", "trusted_at": None}
    assert package_origin(package / "main.ipynb") == package.resolve()
    assert untrusted_origin(package / "main.ipynb") == package.resolve()
    assert trust_decision(package) == {"trust": "not trusted", "trusted_at": None}
    with pytest.raises(ReefError) as refused:
        refuse_untrusted(package, "actions")
    assert str(refused.value).startswith(f"{package.resolve()}: a folder made from a package: its actions are code")
    assert f"reef init {package.resolve()} --trust" in str(refused.value)
    assert record_trust(package / "main.ipynb") == package.resolve()
    decision = trust_decision(package)
    assert decision["trust"] == "trusted" and decision["trusted_at"]
    refuse_untrusted(package)  # no error once trusted
    assert json.loads((package / ORIGIN_NAME).read_text())["source"] == str(tmp_path / "demo.reef.zip")
    assert record_trust(own) is None and not (own / ORIGIN_NAME).exists()


def test_a_folder_under_reef_s_solutions_or_with_an_unreadable_marker_fails_closed(tmp_path):
    imported = solution(solutions_home() / "old-1.0.0").path  # imported before markers were written
    assert untrusted_origin(imported / "main.ipynb") == imported.resolve()
    broken = solution(tmp_path / "broken").path
    (broken / ORIGIN_NAME).write_text('{"trusted": {"at": ', encoding="utf-8")
    assert trust_decision(broken)["trust"] == "not trusted"


def test_a_solution_of_the_user_s_own_whose_notebook_lies_in_an_untrusted_package_may_not_run(tmp_path):
    package = solution(tmp_path / "package").path
    write_origin(package, "registry")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "main.ipynb").symlink_to(package / "main.ipynb")
    (mine / "solution.json").write_text(json.dumps({"workflows": {"run": {"notebook": "main.ipynb"}}}))
    assert untrusted_source(mine) == package.resolve()
    assert untrusted_source(mine / "solution.json") == package.resolve()
    assert untrusted_source(None) is None and untrusted_source(tmp_path / "absent") is None

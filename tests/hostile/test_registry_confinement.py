"""Hostile registries, round 2 (issue 29): what someone who can write a registry tries against the people using it.

- A link committed in the registry (``results`` or ``packages/NAME`` pointing at a folder outside) must not make
  ``reef results push`` or ``reef publish`` write there, nor ``reef pull`` or ``reef search`` read there.
- A registry on a shared disk (a bare repository given as a folder) must not run its hooks, or the commands its
  own git config names, as the person who pushes or fetches.
- A version seen here that disappears from the registry must not make ``reef pull NAME@*`` quietly hand back an
  older one.
- A registry URL naming a transport that runs commands (``ext::``) is refused in one line.

Real git: bare repositories in tmp_path, an attacker's own clone pushing to them; every user has their own REEF_HOME.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.cli import call as reef
from helpers.records import make_record
from helpers.registry import git_clone, git_push_all, make_package

from reefnb.runs.store import Store
from reefnb.sharing import pins, registry


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    """demo 1.0.0 and 2.0.0, and app 1.0.0 that needs demo >=1: exported once for the module."""
    folder = tmp_path_factory.mktemp("packages")
    return {
        "demo@1.0.0": make_package(folder, "demo", "1.0.0"),
        "demo@2.0.0": make_package(folder, "demo", "2.0.0"),
        "app@1.0.0": make_package(folder, "app", "1.0.0", components={"demo": ">=1"}),
    }


def one_line_refusal(code: int, err: str) -> str:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def attack(bare: Path, workspace: Path, change) -> None:
    """What someone with push access does: clone, ``change(clone)``, commit everything and push."""
    clone = git_clone(bare, workspace)
    change(clone)
    git_push_all(clone, "an attack")


def shared_run(solution: str = "hello-sweep") -> dict:
    record = make_record("20260101T000000Z-0000c0de")
    record["solution"]["name"] = solution
    return record


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


# --- item 3: nothing outside the clone is written or read ---------------------------------------------------


def link_into(outside: Path, where: str):
    """A change that replaces ``where`` in the registry by a link to ``outside`` (a folder, or a file for a .json)."""

    def change(clone: Path) -> None:
        path = clone / where
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(outside)

    return change


@pytest.mark.parametrize(
    "where",
    ["results", "results/hello-sweep/2026-01/part-0.parquet", "packages/demo", "packages/demo/1.0.0", "index.json"],
)
def test_a_link_in_the_registry_makes_no_verb_write_or_read_outside_its_clone(tmp_path, bare, user, packages, where):
    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(packages["demo@1.0.0"])
    outside = tmp_path / "outside"
    if where.endswith(".json"):  # a file of the victim's that the registry points at
        outside.mkdir()
        outside = outside / "secret.json"
        outside.write_text('{"format": 1, "components": {}}')
    else:
        (outside / "hello-sweep").mkdir(parents=True)
    before = listing(outside.parent if where.endswith(".json") else outside)
    attack(bare, tmp_path / "attacker", link_into(outside, where))

    alice = user("alice")  # added the registry before the attack: every verb brings her clone to the attacker's head
    Store().add(shared_run())
    verbs = [
        ["results", "push"],
        ["publish", str(packages["demo@2.0.0"])],
        ["pull", "demo@1.0.0"],
        ["search", "demo"],
        ["results", "pull"],
    ]
    for argv in verbs:
        message = one_line_refusal(*reef(*argv)[::2])
        assert f"registry shared: {where}: a symbolic link in the registry" in message, (argv, message)
    assert listing(outside.parent if where.endswith(".json") else outside) == before  # nothing was written there
    if where.endswith(".json"):
        assert outside.read_text() == '{"format": 1, "components": {}}'
    assert not (alice / "solutions").exists() or not any((alice / "solutions").iterdir())

    carol = user("carol")
    message = one_line_refusal(
        *reef("registry", "add", "shared", str(bare))[::2]
    )  # a new machine: refused before anything is checked out
    assert f"registry shared: {where}: a symbolic link in the registry" in message
    assert registry.list_registries() == [] and not (carol / "registries" / "shared").exists()


@pytest.mark.parametrize(
    "where, verb",
    [
        ("results", ["results", "push"]),
        ("packages/demo", ["publish", "demo@2.0.0"]),
        ("index.json", ["publish", "demo@2.0.0"]),
    ],
)
def test_a_file_where_a_folder_belongs_or_a_folder_where_a_file_belongs_is_one_line(
    tmp_path, bare, user, packages, where, verb
):
    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(packages["demo@1.0.0"])

    def change(clone: Path) -> None:
        path = clone / where
        if path.is_file():  # a folder where a file belongs
            path.unlink()
            (path / "x").mkdir(parents=True)
            (path / "x" / "keep").write_text("")
        else:  # a file where a folder belongs
            shutil.rmtree(path, ignore_errors=True)
            path.write_text("not a folder\n")

    attack(bare, tmp_path / "attacker", change)
    Store().add(shared_run())
    argv = [packages[part] if part in packages else part for part in verb]
    message = one_line_refusal(*reef(*map(str, argv))[::2])
    assert f"registry shared: {where}" in message, message


# --- item 4: a shared-disk registry's hooks and config run nothing as the person pushing ------------------------

HOOKS = (
    "pre-receive",
    "update",
    "post-receive",
    "post-update",
    "reference-transaction",
    "push-to-checkout",
    "pre-auto-gc",
    "proc-receive",
    "pre-push",
)


def hostile_hooks(folder: Path, ran: Path) -> None:
    """Every hook git may run on a push, each writing its name into ``ran`` (the proof that it ran as the victim)."""
    folder.mkdir(parents=True, exist_ok=True)
    for hook in HOOKS:
        (folder / hook).write_text(f"#!/bin/sh\necho {hook} >> '{ran}'\ncat > /dev/null\nexit 0\n")
        (folder / hook).chmod(0o755)


@pytest.mark.parametrize("how", ["hooks folder", "core.hooksPath and other config"])
def test_a_shared_disk_registry_runs_no_hook_or_configured_command_as_the_publisher(
    tmp_path, bare, user, packages, how
):
    ran = tmp_path / "ran"
    if how == "hooks folder":
        hostile_hooks(bare / "hooks", ran)
    else:  # the registry's own config is the attacker's too: a hooks folder elsewhere, a command for alternate refs, gc
        hostile_hooks(tmp_path / "evil-hooks", ran)
        subprocess.run(["git", "init", "--quiet", "--bare", str(tmp_path / "alternate.git")], check=True)
        (bare / "objects" / "info" / "alternates").write_text(f"{tmp_path / 'alternate.git' / 'objects'}\n")
        command = tmp_path / "command.sh"
        command.write_text(f"#!/bin/sh\necho configured-command >> '{ran}'\n")
        command.chmod(0o755)
        for key, value in [
            ("core.hooksPath", str(tmp_path / "evil-hooks")),
            ("core.alternateRefsCommand", str(command)),
            ("core.fsmonitor", str(command)),
            ("gc.auto", "1"),
            ("gc.autoPackLimit", "1"),
            ("core.logAllRefUpdates", "true"),
        ]:
            subprocess.run(["git", "-C", str(bare), "config", key, value], check=True)

    alice = user("alice")
    assert reef("registry", "add", "shared", str(bare))[0] == 0
    code, _, err = reef("publish", str(packages["demo@1.0.0"]))
    assert code == 0, err
    Store().add(shared_run())
    assert reef("results", "push")[0] == 0
    assert reef("pull", "demo@1.0.0")[0] == 0 and reef("search")[0] == 0 and reef("results", "pull")[0] == 0
    assert (alice / "solutions" / "demo-1.0.0" / "solution.json").is_file()
    shown = subprocess.run(
        ["git", "-C", str(bare), "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    assert (
        "packages/demo/1.0.0/demo-1.0.0.reef.zip" in shown and "results/hello-sweep/" in shown
    )  # the pushes did arrive
    assert not ran.exists(), ran.read_text()


def test_a_shared_disk_registry_holding_a_link_is_refused_before_git_writes_through_it(tmp_path, bare, user, packages):
    """git appends to a reflog that is a link (as the pusher, with
    the repository's user.name): refused before the push."""
    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(packages["demo@1.0.0"])
    victim = tmp_path / "victim" / ".bashrc"
    victim.parent.mkdir()
    victim.write_text("# mine\n")
    (bare / "logs" / "refs" / "heads").mkdir(parents=True, exist_ok=True)
    branch = subprocess.run(
        ["git", "-C", str(bare), "symbolic-ref", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (bare / "logs" / "refs" / "heads" / branch).symlink_to(victim)
    subprocess.run(["git", "-C", str(bare), "config", "user.name", "x; touch pwned #"], check=True)
    message = one_line_refusal(*reef("publish", str(packages["demo@2.0.0"]))[::2])
    assert f"logs/refs/heads/{branch}: a symbolic link in the registry's repository" in message
    assert victim.read_text() == "# mine\n"


# --- item 8: a version seen here that disappears is not quietly replaced by an older one ------------------------


def drop_version(name: str, version: str):
    """The attacker's rollback: the version's folder and its index entry removed, ``latest`` lowered, all consistent."""

    def change(clone: Path) -> None:
        shutil.rmtree(clone / "packages" / name / version)
        index = json.loads((clone / "index.json").read_text())
        entry = index["components"][name]
        del entry["versions"][version]
        entry["latest"] = max(entry["versions"], key=lambda text: tuple(map(int, text.split("."))))
        (clone / "index.json").write_text(json.dumps(index))

    return change


def test_a_version_that_disappears_is_not_replaced_by_an_older_one_without_being_asked(tmp_path, bare, user, packages):
    user("alice")
    registry.add_registry("shared", str(bare))
    for spec in ("demo@1.0.0", "demo@2.0.0", "app@1.0.0"):
        registry.publish(packages[spec])
    carol = user("carol")  # pulled the newest
    registry.add_registry("shared", str(bare))
    assert registry.pull("demo@*")["version"] == "2.0.0"
    dave = user("dave")  # only saw it listed
    registry.add_registry("shared", str(bare))
    assert [found["versions"] for found in registry.search("demo")] == [["1.0.0", "2.0.0"]]
    attack(bare, tmp_path / "attacker", drop_version("demo", "2.0.0"))

    for home in (carol, dave):
        user(home.name)
        for argv in (["pull", "demo@*"], ["pull", "demo"], ["pull", "demo@>=1", "--dry-run"], ["pull", "app"]):
            message = one_line_refusal(*reef(*argv)[::2])
            assert (
                "demo 2.0.0 was published in registry shared when seen here" in message
                and "--allow-downgrade" in message
            ), message
        assert not (home / "solutions" / "demo-1.0.0").exists() and not (home / "solutions" / "app-1.0.0").exists()
    assert pins.read_pins("shared")["highest"]["demo"]["version"] == "2.0.0"

    assert reef("pull", "demo@^1")[0] == 0  # a range the vanished version never matched is not a rollback
    code, out, err = reef(
        "pull", "demo@*", "--allow-downgrade"
    )  # the user's decision: what the registry holds now is accepted
    assert code == 0 and "demo@1.0.0" in out, err
    assert reef("pull", "app")[0] == 0 and pins.read_pins("shared")["highest"]["demo"]["version"] == "1.0.0"


# --- low: a registry URL that names a command-running transport -------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% {marker}",
        "ext::sh -c touch% {marker} %S",
        "fd::17",
        "foo::{marker}",
        "--upload-pack=touch {marker}",
        "-u touch {marker}",
        "svn://x/{marker}",
    ],
)
def test_a_registry_url_naming_an_unsafe_transport_is_one_line(tmp_path, user, url):
    marker = tmp_path / "pwned"
    home = user("alice")
    message = one_line_refusal(*reef("registry", "add", "evil", url.format(marker=marker))[::2])
    assert message.startswith("reef: registry evil: ") or "registry evil: " in message
    assert not marker.exists() and registry.list_registries() == [] and not (home / "registries" / "evil").exists()

"""Cell checkpoints (reefnb.runs.checkpoints): the key chain, where checkpoints live, and the kernel's dump and load
functions, run here in a plain namespace as the kernel runs them in its globals."""

from __future__ import annotations

import pickle

from reefnb.runs.checkpoints import (
    KERNEL_HELPERS,
    checkpoint_complete,
    checkpoint_folder,
    checkpoint_path,
    environment_lock,
    next_key,
)


def kernel_namespace() -> dict:
    """A namespace with the kernel helpers defined in it: their ``globals()`` is this dict."""
    namespace: dict = {}
    exec(compile(KERNEL_HELPERS, "<kernel helpers>", "exec"), namespace)
    return namespace


def test_the_environment_lock_depends_on_versions_not_on_the_order_packages_are_listed():
    fingerprint = {"version": "3.12.1", "packages": {"numpy": "2.0.0", "pandas": "2.2.2"}}
    reordered = {"version": "3.12.1", "packages": {"pandas": "2.2.2", "numpy": "2.0.0"}}
    lock = environment_lock("python3", fingerprint)
    assert lock == environment_lock("python3", reordered)
    assert lock != environment_lock("python3", {**fingerprint, "packages": {"numpy": "2.0.1", "pandas": "2.2.2"}})
    assert lock != environment_lock("python3", {**fingerprint, "version": "3.12.2"})
    assert lock != environment_lock("other", fingerprint)
    assert environment_lock("python3", None) == environment_lock("python3", {})


def test_each_key_chains_the_one_before_so_a_changed_earlier_cell_changes_every_later_key():
    start = environment_lock("python3", None)
    first, changed = next_key(start, "x = 1"), next_key(start, "x = 2")
    assert first != changed
    assert next_key(first, "y = x") != next_key(changed, "y = x")
    assert next_key(first, "y = x") == next_key(next_key(start, "x = 1"), "y = x")
    assert len(first) == 64 and int(first, 16) >= 0  # a sha256 in hex


def test_checkpoints_live_under_reef_home(reef_home):
    assert checkpoint_folder() == reef_home / "cache" / "cells"
    assert checkpoint_path("abc") == reef_home / "cache" / "cells" / "abc.pkl"


def test_the_kernel_dump_and_load_bring_back_values_and_modules_and_leave_out_private_names(reef_home):
    source = kernel_namespace()
    exec("import json\nnumbers = [1, 2, 3]\nlabel = 'run'\n_private = 5", source)
    checkpoint_folder().mkdir(parents=True)
    path = checkpoint_path(next_key("start", "cell"))
    assert source["__reef_dump"](str(path)) == []
    assert checkpoint_complete(path.stem)
    assert not path.with_name(path.name + ".tmp").exists()

    fresh = kernel_namespace()
    assert fresh["__reef_load"](str(path)) == 2  # numbers and label: the module is kept by name, _private left out
    assert fresh["numbers"] == [1, 2, 3] and fresh["label"] == "run"
    assert fresh["json"].dumps({"a": 1}) == '{"a": 1}'
    assert "_private" not in fresh


def test_a_value_that_cannot_be_pickled_makes_the_checkpoint_partial(reef_home):
    namespace = kernel_namespace()
    exec("kept = 3\nstream = (n for n in range(3))", namespace)
    checkpoint_folder().mkdir(parents=True)
    path = checkpoint_path("partial")
    assert namespace["__reef_dump"](str(path)) == ["stream"]
    assert not checkpoint_complete("partial")
    with open(path, "rb") as handle:
        assert set(pickle.load(handle)["values"]) == {"kept"}


def test_a_missing_or_unreadable_checkpoint_is_not_complete(reef_home):
    assert not checkpoint_complete("absent")
    checkpoint_folder().mkdir(parents=True)
    checkpoint_path("garbage").write_bytes(b"not a pickle")
    assert not checkpoint_complete("garbage")

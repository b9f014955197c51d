"""Trust on first use for registries (reefnb.sharing.pins): the ledger of what this machine first saw."""

from __future__ import annotations

import hashlib

import pytest

from reefnb.common.exceptions import InputError, IntegrityError, ReefError
from reefnb.common.json_input import read_json
from reefnb.sharing.pins import (
    accept_highest,
    check_pin,
    forget,
    forget_policy,
    highest_seen,
    note_seen,
    pin,
    pin_policy,
    pinned_policy,
    pins_path,
    policy_digest,
    read_pins,
)

FIRST, OTHER = hashlib.sha256(b"first").hexdigest(), hashlib.sha256(b"other").hexdigest()


def test_an_unseen_registry_has_an_empty_ledger_and_no_file():
    assert read_pins("team") == {"format": 1, "registry": "team", "packages": {}}
    assert check_pin("team", "demo", "1.0.0", FIRST) is None
    assert not pins_path("team").exists()


def test_a_version_is_pinned_once_and_other_bytes_are_refused_until_forgotten():
    assert pin("team", "demo", "1.0.0", FIRST, "published", signer="alice@example.org") is True
    assert pin("team", "demo", "1.0.0", FIRST, "pulled") is False  # the same bytes again: the first sight stays
    entry = check_pin("team", "demo", "1.0.0", FIRST)
    assert (entry["sha256"], entry["how"], entry["signer"]) == (FIRST, "published", "alice@example.org")
    read_json(pins_path("team"), schema="registry-pins")  # the ledger on disk follows its schema

    with pytest.raises(IntegrityError, match=f"now has sha256 {OTHER}, but {FIRST} when published") as refused:
        check_pin("team", "demo", "1.0.0", OTHER)
    assert "reef registry forget demo@1.0.0 --registry team" in str(refused.value)
    with pytest.raises(IntegrityError):
        pin("team", "demo", "1.0.0", OTHER, "pulled")

    forgot = forget("team", "demo@1.0.0")
    assert forgot["forgot"] == "demo@1.0.0" and forgot["sha256"] == FIRST
    assert pin("team", "demo", "1.0.0", OTHER, "pulled") is True


def test_forgetting_what_is_not_pinned_names_what_is():
    pin("team", "demo", "1.0.0", FIRST, "pulled")
    with pytest.raises(ReefError, match=r"demo@2\.0\.0: not pinned here \(pinned: demo@1\.0\.0\)"):
        forget("team", "demo@2.0.0")


def test_registries_have_ledgers_of_their_own():
    pin("team", "demo", "1.0.0", FIRST, "pulled")
    assert check_pin("public", "demo", "1.0.0", OTHER) is None


def test_the_highest_version_seen_only_rises_unless_a_downgrade_is_accepted():
    note_seen("team", {"demo": ["1.2.0", "1.10.0", "1.9.0"], "tool": ["not-a-version"]})
    assert {name: entry["version"] for name, entry in highest_seen("team").items()} == {"demo": "1.10.0"}
    pin("team", "demo", "1.3.0", FIRST, "pulled")
    note_seen("team", {"demo": ["1.0.0"]})
    assert highest_seen("team")["demo"]["version"] == "1.10.0"
    pin("team", "demo", "2.0.0", OTHER, "published")
    assert highest_seen("team")["demo"]["version"] == "2.0.0"
    accept_highest("team", "demo", "1.3.0")
    assert highest_seen("team")["demo"]["version"] == "1.3.0"


def test_the_signing_policy_is_compared_whatever_the_order_of_its_signers():
    alice = {"identity": "alice@example.org", "key": "ssh-ed25519 AAAAalice", "comment": "not compared"}
    bob = {"identity": "bob@example.org", "key": "ssh-ed25519 AAAAbob"}
    policy = {"require_signatures": True, "signers": [bob, alice]}
    assert policy_digest(policy) == policy_digest({"require_signatures": True, "signers": [alice, bob]})
    assert policy_digest(policy) != policy_digest({"require_signatures": False, "signers": [alice, bob]})
    assert policy_digest(policy) != policy_digest({"require_signatures": True, "signers": [alice]})

    assert pinned_policy("team") is None
    pin_policy("team", policy)
    assert pinned_policy("team") == {
        "require_signatures": True,
        "signers": [{"identity": "alice@example.org", "key": "ssh-ed25519 AAAAalice"}, bob],
    }
    forgot = forget_policy("team")
    assert forgot["forgot"] == "signers" and forgot["require_signatures"] is True
    assert pinned_policy("team") is None


def test_a_damaged_ledger_is_one_input_error_not_an_empty_one():
    pin("team", "demo", "1.0.0", FIRST, "pulled")
    pins_path("team").write_text('{"format": 1, "packages": {"demo@1.0.0": {"sha256": "short"}}}', encoding="utf-8")
    with pytest.raises(InputError):
        check_pin("team", "demo", "1.0.0", FIRST)

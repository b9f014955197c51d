"""Trust on first use for registries: what this machine first saw of each registry, as go.sum does for modules.

``$REEF_HOME/pins/REGISTRY.json`` (schema ``registry-pins``) holds, per registry, the sha256 of every
package version published or pulled here (NAME@VERSION -> sha256, how, when, signer), the signing
policy (``require_signatures``, ``signers``) as first seen, and the highest version of each component
seen listed there (``highest``). A version whose bytes change afterwards, or a policy that changes, is
refused until the user forgets the pin; a pull that would go back below a version seen here that the
registry no longer lists is refused until the user accepts it (``reef pull
--allow-downgrade``). The ledger lives outside the registry's clone: fetching, resetting
and cleaning the clone never touch it, and nothing a registry holds can overwrite it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from reefnb.common.exceptions import IntegrityError, ReefError
from reefnb.common.files import locked_file, write_json_object
from reefnb.common.json_input import read_json
from reefnb.common.paths import reef_home
from reefnb.solution.versions import Version

log = logging.getLogger(__name__)

PINS_FORMAT = 1
MAX_PINS_BYTES = 64 * 1024 * 1024


def pins_home() -> Path:
    """``$REEF_HOME/pins``: one ledger per registry."""
    return reef_home() / "pins"


def pins_path(registry: str) -> Path:
    """The ledger of ``registry``."""
    return pins_home() / f"{registry}.json"


def read_pins(registry: str) -> dict:
    """The ledger of ``registry`` (an empty one when nothing was seen yet); InputError for a damaged file."""
    path = pins_path(registry)
    if not path.exists():
        return {"format": PINS_FORMAT, "registry": registry, "packages": {}}
    return read_json(path, max_bytes=MAX_PINS_BYTES, expect=dict, schema="registry-pins")


def _update(registry: str, change) -> dict:
    with locked_file(pins_home() / f".{registry}.lock"):  # a lock of its own: callers may hold the clone's
        pins = read_pins(registry)
        before = json.dumps(pins, sort_keys=True)
        change(pins)
        if json.dumps(pins, sort_keys=True) != before:
            write_json_object(pins_path(registry), pins)
    return pins


def check_pin(registry: str, name: str, version: str, digest: str) -> dict | None:
    """The pin of NAME@VERSION (None when never seen here); IntegrityError when ``digest`` is not the pinned one."""
    entry = read_pins(registry)["packages"].get(f"{name}@{version}")
    if entry is not None and entry["sha256"] != digest:
        _refuse(registry, name, version, digest, entry)
    return entry


def _refuse(registry: str, name: str, version: str, digest: str, entry: dict) -> None:
    raise IntegrityError(
        f"registry {registry}: {name}@{version}: its package now has sha256 {digest}, but {entry['sha256']} when "
        f"{entry['how']} here ({entry['seen']}): refusing a version whose bytes changed; if you really trust the new "
        f"bytes: `reef registry forget {name}@{version} --registry {registry}`"
    )


def pin(registry: str, name: str, version: str, digest: str, how: str, signer: str | None = None) -> bool:
    """Pin NAME@VERSION to ``digest`` unless already pinned
    (IntegrityError if pinned to other bytes); whether it was new."""
    added = []

    def change(pins: dict) -> None:
        key = f"{name}@{version}"
        entry = pins["packages"].get(key)
        if entry is None:
            pins["packages"][key] = {"sha256": digest, "how": how, "seen": _now(), "signer": signer}
            added.append(key)
        elif entry["sha256"] != digest:
            _refuse(registry, name, version, digest, entry)
        _raise_highest(pins, name, version)

    _update(registry, change)
    if added:
        log.info("registry %s: pinned %s@%s to sha256 %s (%s)", registry, name, version, digest, how)
    return bool(added)


def forget(registry: str, spec: str) -> dict:
    """Drop the pin of ``NAME@VERSION``: the next pull pins whatever the registry then holds."""
    removed = {}

    def change(pins: dict) -> None:
        if spec not in pins["packages"]:
            known = ", ".join(sorted(pins["packages"])) or "none"
            raise ReefError(f"registry {registry}: {spec}: not pinned here (pinned: {known})")
        removed.update(pins["packages"].pop(spec))

    _update(registry, change)
    return {"registry": registry, "forgot": spec, **removed}


# --- the highest version seen: no quiet rollback ----------------------------------------------------


def _is_version(text: str) -> bool:
    try:
        Version.parse(text)
        return True
    except ReefError:
        return False


def _raise_highest(pins: dict, name: str, version: str) -> None:
    """Make ``version`` the highest seen of ``name`` in ``pins`` when it is higher than the one recorded."""
    highest = pins.setdefault("highest", {})
    known = highest.get(name)
    if _is_version(version) and (known is None or Version.parse(version).key() > Version.parse(known["version"]).key()):
        highest[name] = {"version": version, "seen": _now()}


def note_seen(registry: str, listed: dict[str, list[str]]) -> None:
    """Record the versions a registry lists now (component name -> versions): each component's highest only rises."""

    def change(pins: dict) -> None:
        for name, versions in listed.items():
            for version in versions:
                _raise_highest(pins, name, version)

    _update(registry, change)


def highest_seen(registry: str) -> dict[str, dict]:
    """Component name -> ``version`` and ``seen`` (when): the highest version of each seen listed in ``registry``."""
    return read_pins(registry).get("highest", {})


def accept_highest(registry: str, name: str, version: str) -> None:
    """The user accepted that ``name``'s versions above ``version``
    are gone (``--allow-downgrade``): lower its highest."""

    def change(pins: dict) -> None:
        pins.setdefault("highest", {})[name] = {"version": version, "seen": _now()}

    _update(registry, change)


# --- the signing policy ---------------------------------------------------------------------------


def canonical_policy(policy: dict) -> dict:
    """``require_signatures`` and the signers (identity and key, sorted): what is compared and pinned."""
    signers = sorted(
        ({"identity": signer["identity"], "key": signer["key"]} for signer in policy.get("signers", [])),
        key=lambda signer: (signer["identity"], signer["key"]),
    )
    return {"require_signatures": bool(policy.get("require_signatures", False)), "signers": signers}


def policy_digest(policy: dict) -> str:
    return hashlib.sha256(json.dumps(canonical_policy(policy), sort_keys=True).encode()).hexdigest()


def pinned_policy(registry: str) -> dict | None:
    """The signing policy pinned for ``registry`` (None before the first sight)."""
    signing = read_pins(registry).get("signing")
    return canonical_policy(signing) if signing is not None else None


def pin_policy(registry: str, policy: dict) -> None:
    """Pin ``policy`` as the registry's signing policy (replacing the pinned one)."""

    def change(pins: dict) -> None:
        pins["signing"] = {**canonical_policy(policy), "seen": _now()}

    _update(registry, change)


def forget_policy(registry: str) -> dict:
    """Drop the pinned signing policy: the next use pins the registry's current ``reef-registry.json``."""
    removed = {}

    def change(pins: dict) -> None:
        removed.update(pins.pop("signing", None) or {})

    _update(registry, change)
    return {"registry": registry, "forgot": "signers", **removed}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

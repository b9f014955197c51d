"""Hostile registries (issue 15, case 2): someone with push access rewrites what was published.

The consistent rewrite changes a package's notebook and rewrites its ``SHA256SUMS``, ``meta.json``
and ``index.json`` to match, so every checksum inside the registry agrees. A machine that saw the
original (published or pulled it) refuses it by its pin; a registry that requires signatures refuses
it, and unsigned or wrongly signed packages, everywhere. Real git (bare repositories in tmp_path),
real ``ssh-keygen`` keys made here; every user has their own REEF_HOME.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from helpers.cli import call as reef
from helpers.registry import git_clone, git_push_all, make_package

from reefnb.common.exceptions import IntegrityError
from reefnb.sharing import pins, registry

ALICE = "alice@example.org"


def keypair(tmp_path: Path, name: str) -> Path:
    """A throwaway ed25519 key (no passphrase): ``name`` (private) and ``name.pub``."""
    key = tmp_path / "keys" / name
    key.parent.mkdir(exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def rewrite_consistently(bare: Path, workspace: Path, name: str, version: str) -> str:
    """Change the package's notebook, and rewrite SHA256SUMS,
    meta.json and index.json to match; push. The new sha256."""
    clone = git_clone(bare, workspace)
    version_folder = clone / "packages" / name / version
    archive = version_folder / f"{name}-{version}.reef.zip"
    with zipfile.ZipFile(archive) as source:
        members = {member: source.read(member) for member in source.namelist()}
    members["main.ipynb"] = members["main.ipynb"].replace(b"x + 1", b"__import__('os').system('id')")
    lines = members["SHA256SUMS"].decode().splitlines()
    members["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(members[line[66:]]).hexdigest()}  {line[66:]}\n" for line in lines
    ).encode()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as target:
        for member, content in members.items():
            target.writestr(member, content)
    old = json.loads((version_folder / "meta.json").read_text())
    new_digest, new_size = hashlib.sha256(archive.read_bytes()).hexdigest(), archive.stat().st_size
    for path in (version_folder / "meta.json", clone / "index.json"):
        text = (
            path.read_text().replace(old["sha256"], new_digest).replace(f'"size": {old["size"]}', f'"size": {new_size}')
        )
        path.write_text(text)
    git_push_all(clone, "a consistent rewrite")
    return new_digest


def imported(home: Path) -> list[str]:
    folder = home / "solutions"
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def one_line_refusal(code: int, err: str) -> str:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


# --- pins: trust on first use ------------------------------------------------------------------------


def test_a_consistent_rewrite_is_refused_on_the_machine_that_published_the_original(tmp_path, bare, user):
    alice = user("alice")
    registry.add_registry("shared", str(bare))
    published = registry.publish(make_package(tmp_path, "demo", "1.0.0"))["sha256"]
    assert pins.read_pins("shared")["packages"]["demo@1.0.0"]["how"] == "published"
    tampered = rewrite_consistently(bare, tmp_path / "attacker", "demo", "1.0.0")

    dave = user("dave")  # a machine that never saw the original cannot tell: the rewrite really is consistent
    registry.add_registry("shared", str(bare))
    assert reef("pull", "demo@1.0.0")[0] == 0
    assert b"os').system" in (dave / "solutions" / "demo-1.0.0" / "main.ipynb").read_bytes()

    user("alice")
    for argv in (
        ["pull", "demo@1.0.0"],
        ["pull", "demo@1.0.0", "--dry-run"],
        ["pull", "demo@^1", "-o", str(tmp_path / "out")],
    ):
        message = one_line_refusal(*reef(*argv)[::2])
        assert f"its package now has sha256 {tampered}, but {published} when published here" in message
        assert "`reef registry forget demo@1.0.0 --registry shared`" in message
    assert imported(alice) == [] and not (tmp_path / "out").exists()
    assert not (alice / "cache" / "packages").exists() or not any((alice / "cache" / "packages").iterdir())

    code, out, err = reef(
        "registry", "forget", "demo@1.0.0"
    )  # the user's own decision: the new bytes are pinned on the next pull
    assert code == 0 and "forgot the pin of demo@1.0.0" in out, err
    assert reef("pull", "demo@1.0.0")[0] == 0
    assert pins.read_pins("shared")["packages"]["demo@1.0.0"] == {
        **pins.read_pins("shared")["packages"]["demo@1.0.0"],
        "sha256": tampered,
        "how": "pulled",
    }


def test_a_consistent_rewrite_is_refused_on_a_machine_that_pulled_the_original(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(make_package(tmp_path, "demo", "1.0.0"))
    registry.publish(make_package(tmp_path, "app", "1.0.0", components={"demo": "^1"}))
    carol = user("carol")
    registry.add_registry("shared", str(bare))
    first = registry.pull("app")
    original = {entry["name"]: entry["sha256"] for entry in first["components"]}
    assert sorted(pins.read_pins("shared")["packages"]) == ["app@1.0.0", "demo@1.0.0"]
    before = imported(carol)
    tampered = rewrite_consistently(bare, tmp_path / "attacker", "demo", "1.0.0")

    for argv in (["pull", "demo@1.0.0"], ["pull", "app"], ["init", "app@1", "--native", "--dry-run"]):
        message = one_line_refusal(*reef(*argv)[::2])
        assert f"demo@1.0.0: its package now has sha256 {tampered}, but {original['demo']} when pulled here" in message
    assert imported(carol) == before  # the originals are still there, nothing new imported
    with pytest.raises(IntegrityError):  # a resolution that includes a changed version is refused as a whole
        registry.pull("app", dependencies=False)


def test_pins_survive_the_clone_being_reset_and_a_registry_that_ships_a_pins_file(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    published = registry.publish(make_package(tmp_path, "demo", "1.0.0"))["sha256"]
    attacker = git_clone(
        bare, tmp_path / "attacker"
    )  # files named like a ledger, inside the registry, change nothing here
    (attacker / "pins").mkdir()
    (attacker / "pins" / "shared.json").write_text(json.dumps({"format": 1, "packages": {}}))
    (attacker / ".reef-pins.json").write_text("{}")
    git_push_all(attacker, "ledger look-alikes")
    rewrite_consistently(bare, tmp_path / "attacker2", "demo", "1.0.0")
    code, _, err = reef("pull", "demo@1.0.0")
    assert code == 2 and published in err
    assert pins.pins_path("shared").parent != registry.registries_home() / "shared"
    assert pins.read_pins("shared")["packages"]["demo@1.0.0"]["sha256"] == published
    assert reef("registry", "remove", "shared")[0] == 0 and reef("registry", "add", "shared", str(bare))[0] == 0
    assert reef("pull", "demo@1.0.0")[0] == 2  # removing and adding the registry again keeps the pins


# --- signatures ----------------------------------------------------------------------------------------


@pytest.fixture
def signed_registry(tmp_path, bare, user):
    """alice owns registry ``shared``, which requires signatures by her key; carol added it afterwards."""
    key = keypair(tmp_path, "alice")
    user("alice")
    registry.add_registry("shared", str(bare))
    code, out, err = reef("registry", "configure", "shared", "--signer", f"{ALICE}={key}.pub", "--require-signatures")
    assert code == 0 and f"signers {ALICE}; signatures required" in out, err
    marker = json.loads(
        subprocess.run(
            ["git", "-C", str(bare), "show", "HEAD:reef-registry.json"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert marker["require_signatures"] is True and marker["signers"][0]["identity"] == ALICE
    return key


def push_package(bare: Path, workspace: Path, package: Path, signature: bytes | None = None) -> None:
    """What someone with push access (but not alice's key) does: add a version by hand, index and all."""
    clone = git_clone(bare, workspace)
    name, version = package.name[: -len(".reef.zip")].rsplit("-", 1)
    folder = clone / "packages" / name / version
    folder.mkdir(parents=True)
    content = package.read_bytes()
    (folder / f"{name}-{version}.reef.zip").write_bytes(content)
    if signature is not None:
        (folder / f"{name}-{version}.reef.zip.sig").write_bytes(signature)
    digest = hashlib.sha256(content).hexdigest()
    meta = {
        "name": name,
        "version": version,
        "sha256": digest,
        "size": len(content),
        "file": f"{name}-{version}.reef.zip",
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    index = (
        json.loads((clone / "index.json").read_text())
        if (clone / "index.json").exists()
        else {"format": 1, "components": {}}
    )
    index["components"].setdefault(name, {"versions": {}})["versions"][version] = {
        "sha256": digest,
        "size": len(content),
    }
    (clone / "index.json").write_text(json.dumps(index))
    git_push_all(clone, f"add {name}@{version}")


def ssh_sign(key: Path, package: Path) -> bytes:
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", "reef", "-f", str(key), str(package)], check=True, capture_output=True
    )
    signature = Path(f"{package}.sig")
    content = signature.read_bytes()
    signature.unlink()
    return content


def test_a_correctly_signed_package_is_accepted(tmp_path, bare, user, signed_registry):
    user("carol")
    registry.add_registry("shared", str(bare))
    user("alice")
    package = make_package(tmp_path, "demo", "1.0.0")
    started = time.perf_counter()
    code, out, err = reef("publish", str(package), "--sign", str(signed_registry))
    sign_seconds = time.perf_counter() - started
    assert code == 0 and f"published, signed by {ALICE}" in out, err
    assert (
        subprocess.run(
            ["git", "-C", str(bare), "cat-file", "-e", "HEAD:packages/demo/1.0.0/demo-1.0.0.reef.zip.sig"]
        ).returncode
        == 0
    )
    carol = user("carol")
    started = time.perf_counter()
    code, out, err = reef("pull", "demo@1.0.0")
    pull_seconds = time.perf_counter() - started
    assert code == 0 and f"signed by {ALICE}" in out, err
    assert imported(carol) == ["demo-1.0.0"] and pins.read_pins("shared")["packages"]["demo@1.0.0"]["signer"] == ALICE
    # the signature is OpenSSH's own: ssh-keygen verifies it without reef
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'{ALICE} namespaces="reef" {Path(f"{signed_registry}.pub").read_text()}')
    signature = subprocess.run(
        ["git", "-C", str(bare), "show", "HEAD:packages/demo/1.0.0/demo-1.0.0.reef.zip.sig"],
        capture_output=True,
        check=True,
    ).stdout
    (tmp_path / "package.sig").write_bytes(signature)
    assert (
        subprocess.run(
            [
                "ssh-keygen",
                "-Y",
                "verify",
                "-f",
                str(allowed),
                "-I",
                ALICE,
                "-n",
                "reef",
                "-s",
                str(tmp_path / "package.sig"),
            ],
            input=package.read_bytes(),
            capture_output=True,
        ).returncode
        == 0
    )
    print(f"publish --sign {sign_seconds:.2f} s, verified pull {pull_seconds:.2f} s")


def test_an_unsigned_package_is_refused_in_a_registry_that_requires_signatures(tmp_path, bare, user, signed_registry):
    package = make_package(tmp_path, "demo", "1.0.0")
    message = one_line_refusal(*reef("publish", str(package))[::2])
    assert "registry shared requires signatures: publish with --sign KEY" in message and ALICE in message
    push_package(bare, tmp_path / "attacker", package)  # pushed by hand, unsigned
    carol = user("carol")
    registry.add_registry("shared", str(bare))
    message = one_line_refusal(*reef("pull", "demo@1.0.0")[::2])
    assert "packages/demo/1.0.0/demo-1.0.0.reef.zip: unsigned, and registry shared requires signatures" in message
    assert imported(carol) == [] and "demo@1.0.0" not in pins.read_pins("shared")["packages"]


def test_a_package_signed_by_someone_else_is_refused(tmp_path, bare, user, signed_registry):
    eve = keypair(tmp_path, "eve")
    package = make_package(tmp_path, "demo", "1.0.0")
    message = one_line_refusal(*reef("publish", str(package), "--sign", str(eve))[::2])
    assert (
        "which is not an allowed signer (alice@example.org)" in message
        and "reef registry configure shared --signer" in message
    )
    push_package(bare, tmp_path / "attacker", package, ssh_sign(eve, package))
    carol = user("carol")
    registry.add_registry("shared", str(bare))
    message = one_line_refusal(*reef("pull", "demo@1.0.0")[::2])
    assert (
        "signed by the key SHA256:" in message and "not an allowed signer (alice@example.org): refusing it" in message
    )
    assert imported(carol) == []


def test_a_consistent_rewrite_of_a_signed_package_is_refused_even_on_a_new_machine(
    tmp_path, bare, user, signed_registry
):
    registry.publish(make_package(tmp_path, "demo", "1.0.0"), sign=signed_registry)
    rewrite_consistently(bare, tmp_path / "attacker", "demo", "1.0.0")  # the old signature stays beside the new bytes
    dave = user("dave")
    registry.add_registry("shared", str(bare))
    message = one_line_refusal(*reef("pull", "demo@1.0.0")[::2])
    assert f"the signature by {ALICE} does not match the package's bytes" in message
    assert imported(dave) == []


def test_a_registry_whose_signers_are_rewritten_is_refused_where_the_policy_was_seen(
    tmp_path, bare, user, signed_registry
):
    eve = keypair(tmp_path, "eve")
    user("carol")
    registry.add_registry("shared", str(bare))  # carol pins alice as the only signer
    attacker = git_clone(bare, tmp_path / "attacker")
    marker = json.loads((attacker / "reef-registry.json").read_text())
    marker["signers"] = [{"identity": "eve@example.org", "key": " ".join(Path(f"{eve}.pub").read_text().split()[:2])}]
    (attacker / "reef-registry.json").write_text(json.dumps(marker))
    git_push_all(attacker, "new signers")
    package = make_package(tmp_path, "demo", "1.0.0")
    push_package(bare, tmp_path / "attacker2", package, ssh_sign(eve, package))
    message = one_line_refusal(*reef("pull", "demo@1.0.0")[::2])
    assert "reef-registry.json: its signing policy changed since first seen here" in message
    assert (
        "signers alice@example.org -> eve@example.org" in message
        and "reef registry forget --signers --registry shared" in message
    )
    user("alice")  # the owner's machine refuses to publish over a policy it did not set
    message = one_line_refusal(
        *reef("publish", str(make_package(tmp_path, "demo", "1.1.0")), "--sign", str(signed_registry))[::2]
    )
    assert "its signing policy changed since first seen here" in message
    with pytest.raises(IntegrityError, match="signing policy changed"):
        registry.configure("shared", require_signatures=False)


def test_dropping_the_requirement_is_refused_and_a_present_signature_is_still_verified(tmp_path, bare, user):
    key, eve = keypair(tmp_path, "alice"), keypair(tmp_path, "eve")
    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(make_package(tmp_path, "plain", "1.0.0"))  # an unsigned registry: unsigned packages are fine
    assert (
        reef("registry", "configure", "shared", "--signer", f"{ALICE}={key}.pub")[0] == 0
    )  # signers listed, not required
    package = make_package(tmp_path, "demo", "1.0.0")
    push_package(bare, tmp_path / "attacker", package, ssh_sign(eve, package))
    user("carol")
    registry.add_registry("shared", str(bare))
    assert registry.pull("plain")["version"] == "1.0.0"
    message = one_line_refusal(*reef("pull", "demo@1.0.0")[::2])
    assert "not an allowed signer" in message


# --- registry files with wrong types -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, content, pointer",
    [
        ("index.json", {"format": 1, "components": {"demo": {"versions": []}}}, "/components/demo/versions"),
        ("index.json", {"format": 1, "components": {"demo": {"versions": {}}}}, "/components/demo/versions"),
        ("index.json", [1, 2], "/"),
        (
            "packages/demo/1.0.0/meta.json",
            {"name": "demo", "version": "1.0.0", "sha256": 5, "file": "demo-1.0.0.reef.zip"},
            "/sha256",
        ),
        (
            "packages/demo/1.0.0/meta.json",
            {"name": "demo", "version": "1.0.0", "sha256": "0" * 64, "file": "../../../x.reef.zip"},
            "/file",
        ),
        ("reef-registry.json", {"format": 1, "signers": "alice"}, "/signers"),
        ("reef-registry.json", {"format": 1, "require_signatures": "yes"}, "/require_signatures"),
    ],
)
def test_registry_files_with_wrong_types_are_one_line(tmp_path, bare, user, path, content, pointer):
    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(make_package(tmp_path, "demo", "1.0.0"))
    attacker = git_clone(bare, tmp_path / "attacker")
    (attacker / path).write_text(json.dumps(content))
    git_push_all(attacker, "wrong types")
    carol = user("carol")
    code, _, err = reef("registry", "add", "shared", str(bare))
    if code == 0:  # a bad reef-registry.json is refused when added, the others when read
        code, _, err = reef("pull", "demo@1.0.0")
    message = one_line_refusal(code, err)
    assert path in message and f": {pointer}: " in message
    assert imported(carol) == []


def test_accepting_new_signers_is_the_users_explicit_step(tmp_path, bare, user, signed_registry):
    eve = keypair(tmp_path, "eve")
    user("carol")
    registry.add_registry("shared", str(bare))
    user("alice")  # the owner replaces her key with a new one, from her machine
    code, out, err = reef("registry", "configure", "shared", "--signer", f"{ALICE}={eve}.pub")
    assert code == 0 and "signers alice@example.org; signatures required" in out, err
    registry.publish(make_package(tmp_path, "demo", "1.0.0"), sign=eve)
    user("carol")
    assert "signing policy changed" in one_line_refusal(*reef("pull", "demo@1.0.0")[::2])
    code, out, err = reef("registry", "forget", "--signers")
    assert code == 0 and "forgot the pin of signers" in out, err
    code, out, err = reef("pull", "demo@1.0.0")
    assert code == 0 and f"signed by {ALICE}" in out, err


def test_a_broken_signature_is_refused_where_no_signers_are_listed_and_bad_signer_arguments_are_one_line(
    tmp_path, bare, user
):
    key = keypair(tmp_path, "alice")
    user("alice")
    registry.add_registry("shared", str(bare))
    package = make_package(tmp_path, "demo", "1.0.0")
    signature = ssh_sign(key, package)
    push_package(bare, tmp_path / "attacker", package, signature.replace(signature[100:110], b"A" * 10))
    message = one_line_refusal(*reef("pull", "demo@1.0.0")[::2])
    assert "packages/demo/1.0.0/demo-1.0.0.reef.zip: its signature does not match the package's bytes" in message
    assert "not an OpenSSH public key" in one_line_refusal(
        *reef("registry", "configure", "shared", "--signer", f"{ALICE}={key}")[::2]
    )
    assert "expected ID=KEY.pub" in one_line_refusal(
        *reef("registry", "configure", "shared", "--signer", str(key))[::2]
    )
    assert "needs at least one signer" in one_line_refusal(
        *reef("registry", "configure", "shared", "--require-signatures")[::2]
    )
    assert "not pinned here" in one_line_refusal(*reef("registry", "forget", "demo@9.9.9")[::2])

"""OpenSSH signatures of packages (reefnb.sharing.signatures), with keys made by ssh-keygen in ``tmp_path``."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from reefnb.common.exceptions import IntegrityError, ReefError
from reefnb.sharing.signatures import check, check_identity, public_key, sign, verify

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
CONTENT = b"a package's bytes"


@pytest.fixture
def keys(tmp_path) -> dict:
    """Two ed25519 key pairs without passphrase: name -> private key file."""
    made = {}
    for name in ("alice", "mallory"):
        path = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
        made[name] = path
    return made


def signer(keys: dict, name: str) -> dict:
    return {"identity": f"{name}@example.org", "key": public_key(keys[name].with_suffix(".pub"))}


def test_a_public_key_file_gives_its_type_and_key_without_the_comment(keys):
    key = public_key(keys["alice"].with_suffix(".pub"))
    assert key.startswith("ssh-ed25519 AAAA") and "alice" not in key and len(key.split()) == 2


def test_a_private_key_or_a_missing_file_is_not_a_public_key(keys, tmp_path):
    with pytest.raises(ReefError, match="not an OpenSSH public key"):
        public_key(keys["alice"])
    with pytest.raises(ReefError, match="cannot read the public key"):
        public_key(tmp_path / "absent.pub")


def test_an_identity_is_letters_digits_and_a_few_marks():
    assert check_identity("alice.b+reef@example.org") == "alice.b+reef@example.org"
    for bad in ("", "alice example", 'x" namespaces="*', "a" * 201):
        with pytest.raises(ReefError, match="signer identity"):
            check_identity(bad)


def test_a_signature_verifies_as_its_allowed_signer(keys):
    signature = sign(keys["alice"], CONTENT)
    assert signature.startswith(b"-----BEGIN SSH SIGNATURE-----")
    assert verify(CONTENT, signature, [signer(keys, "mallory"), signer(keys, "alice")], "pkg") == "alice@example.org"
    check(CONTENT, signature, "pkg")  # well-formed, no signer needed


def test_changed_bytes_are_refused(keys):
    signature = sign(keys["alice"], CONTENT)
    with pytest.raises(IntegrityError, match="^pkg: the signature by alice@example.org does not match"):
        verify(CONTENT + b"!", signature, [signer(keys, "alice")], "pkg")
    with pytest.raises(IntegrityError, match="^pkg: its signature does not match"):
        check(CONTENT + b"!", signature, "pkg")


def test_a_key_that_is_not_allowed_is_named_by_its_fingerprint(keys):
    signature = sign(keys["mallory"], CONTENT)
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(keys["mallory"].with_suffix(".pub"))], check=True, capture_output=True, text=True
    ).stdout.split()[1]
    with pytest.raises(IntegrityError) as refused:
        verify(CONTENT, signature, [signer(keys, "alice")], "pkg")
    assert str(refused.value) == (
        f"pkg: signed by the key {fingerprint}, which is not an allowed signer (alice@example.org): refusing it"
    )
    with pytest.raises(IntegrityError, match="no allowed signers are known"):
        verify(CONTENT, signature, [], "pkg")


def test_signing_with_a_missing_key_says_so(tmp_path):
    with pytest.raises(ReefError, match="no such key file"):
        sign(tmp_path / "absent", CONTENT)

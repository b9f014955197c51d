"""OpenSSH signatures of packages (``ssh-keygen -Y``, namespace ``reef``): no key format or crypto of our own.

A publisher signs with ``ssh-keygen -Y sign -n reef -f KEY FILE``; a registry lists its allowed
signers (identity and public key) in ``reef-registry.json``; a puller verifies with
``ssh-keygen -Y verify -f allowed_signers -I IDENTITY -n reef -s FILE.sig`` after
``-Y find-principals`` named the identity whose key made the signature.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from reefnb.common.exceptions import IntegrityError, ReefError

NAMESPACE = "reef"
SIGNATURE_SUFFIX = ".sig"
MAX_SIGNATURE_BYTES = 64 * 1024
_KEY = re.compile(
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)"
    r" ([A-Za-z0-9+/]{16,4096}={0,2})"
)
_IDENTITY = re.compile(r"[A-Za-z0-9._@+-]{1,200}")


def _ssh_keygen(arguments: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["ssh-keygen", *arguments], input=stdin if stdin is not None else b"", capture_output=True, timeout=60
        )
    except FileNotFoundError:
        raise ReefError(
            "ssh-keygen not found: install OpenSSH (8.2 or later) to sign or verify registry packages"
        ) from None


def _reason(result: subprocess.CompletedProcess) -> str:
    lines = [
        line.strip()
        for line in (result.stderr or result.stdout).decode("utf-8", "replace").splitlines()
        if line.strip()
    ]
    return lines[-1] if lines else f"ssh-keygen exit code {result.returncode}"


def public_key(path: str | Path) -> str:
    """The ``TYPE BASE64`` of an OpenSSH public key file (``KEY.pub``); ReefError naming the file otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:16384]
    except OSError as error:
        raise ReefError(f"{path}: cannot read the public key: {error.strerror or error}") from None
    match = _KEY.search(text)
    if not match or "PRIVATE KEY" in text:
        raise ReefError(
            f"{path}: not an OpenSSH public key (expected a line 'ssh-ed25519 AAAA... comment', as in KEY.pub)"
        )
    return f"{match.group(1)} {match.group(2)}"


def check_identity(identity: str) -> str:
    if not _IDENTITY.fullmatch(identity):
        raise ReefError(f"signer identity {identity!r}: use letters, digits and . _ @ + - (e.g. alice@example.org)")
    return identity


def sign(key: str | Path, content: bytes) -> bytes:
    """An OpenSSH signature (namespace ``reef``) of ``content`` made with private key file ``key`` (or its agent)."""
    key = Path(key).expanduser()
    if not key.is_file():
        raise ReefError(f"--sign {key}: no such key file")
    with tempfile.TemporaryDirectory(prefix="reef-sign-") as scratch:
        data = Path(scratch) / "package"
        data.write_bytes(content)
        result = _ssh_keygen(["-Y", "sign", "-n", NAMESPACE, "-f", str(key), str(data)])
        signature = data.with_name(data.name + SIGNATURE_SUFFIX)
        if result.returncode != 0 or not signature.is_file():
            raise ReefError(f"--sign {key}: ssh-keygen could not sign: {_reason(result)}")
        return signature.read_bytes()


def verify(content: bytes, signature: bytes, signers: list[dict], where: str) -> str:
    """The identity of the allowed signer whose key made ``signature`` of ``content``; IntegrityError otherwise.

    ``signers`` are ``{"identity", "key"}`` entries; ``where`` names the package in messages.
    """
    if not signers:
        raise IntegrityError(f"{where}: signed, but no allowed signers are known to verify it against")
    with tempfile.TemporaryDirectory(prefix="reef-verify-") as scratch:
        allowed = Path(scratch) / "allowed_signers"
        allowed.write_text(
            "".join(f'{signer["identity"]} namespaces="{NAMESPACE}" {signer["key"]}\n' for signer in signers),
            encoding="utf-8",
        )
        signature_path = Path(scratch) / "package.sig"
        signature_path.write_bytes(signature)
        found = _ssh_keygen(["-Y", "find-principals", "-s", str(signature_path), "-f", str(allowed)])
        principals = found.stdout.decode("utf-8", "replace").split() if found.returncode == 0 else []
        if not principals:
            made_by = _signing_key(content, signature_path)
            allowed_ids = ", ".join(sorted(signer["identity"] for signer in signers))
            raise IntegrityError(
                f"{where}: signed by {made_by}, which is not an allowed signer ({allowed_ids}): refusing it"
            )
        for principal in principals:
            result = _ssh_keygen(
                ["-Y", "verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE, "-s", str(signature_path)],
                content,
            )
            if result.returncode == 0:
                return principal
        raise IntegrityError(
            f"{where}: the signature by {principals[0]} does not match the package's bytes "
            f"({_reason(result)}): refusing it"
        )


def check(content: bytes, signature: bytes, where: str) -> None:
    """Check that ``signature`` is a well-formed ``reef`` signature
    of ``content`` (no signer trusted: none is known)."""
    with tempfile.TemporaryDirectory(prefix="reef-verify-") as scratch:
        signature_path = Path(scratch) / "package.sig"
        signature_path.write_bytes(signature)
        result = _ssh_keygen(["-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(signature_path)], content)
        if result.returncode != 0:
            raise IntegrityError(
                f"{where}: its signature does not match the package's bytes ({_reason(result)}): refusing it"
            )


def _signing_key(content: bytes, signature_path: Path) -> str:
    """``the key SHA256:...`` that made a signature (from ``check-novalidate``), for messages."""
    result = _ssh_keygen(["-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(signature_path)], content)
    match = re.search(
        r"key (SHA256:[A-Za-z0-9+/=]+)",
        result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace"),
    )
    return f"the key {match.group(1)}" if match else "a key"

"""Registries: git repositories of published components and shared run records.

A registry is any git repository (a git host, or a bare repository on a shared disk). Its layout:

    reef-registry.json                          {"format": 1, "require_signatures", "signers"}: marks the repository
                                                as a registry; says who may sign its packages (OpenSSH keys)
    index.json                                  every component: kind, description, keywords, latest, versions
    packages/NAME/VERSION/NAME-VERSION.reef.zip the package, exactly as exported
    packages/NAME/VERSION/NAME-VERSION.reef.zip.sig  its OpenSSH signature (namespace reef), when signed
    packages/NAME/VERSION/meta.json             that version's entry: sha256, size, depends, kind, description...
    results/SOLUTION/YYYY-MM/part-DIGEST.parquet shared run records,
    sharded per solution and month (``reefnb.sharing.crowd``;
                                                ``origin.contributor`` says whose); ``results/SOLUTION/RUN_ID.json``
                                                files of the first layout (one per run) are still read

Versions are immutable and every change only adds files; ``index.json`` is rebuilt from the
``meta.json`` files. So two people publishing or pushing results at once never conflict: the one
whose push is refused fetches, re-applies its change on the new head and pushes again.
Clones are cached under ``$REEF_HOME/registries/NAME``; the list of registries is
``$REEF_HOME/registries.json``.

Nothing in a registry is trusted. Every version published or pulled here is pinned to its sha256 in
``$REEF_HOME/pins/NAME.json`` (``reefnb.sharing.pins``), and so is the registry's signing policy: bytes that
change afterwards are refused even when the registry's checksums were rewritten to match. A registry
can require OpenSSH signatures by the signers it lists (``reefnb.sharing.signatures``), and a pull never
goes back below a version seen here that the registry no longer lists (``--allow-downgrade``). A fetched tree
holding a symbolic link or a submodule is refused before it is checked out, so nothing reef writes or reads in
a clone leaves it; a registry on this machine (a folder) runs git's other side without its hooks or the
commands its config names (``REMOTE_GIT``); URLs name only transports that run no command (``checked_url``).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import os
import random
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import IntegrityError, ManifestError, PackageError, RegistryError, RegistryUnreachable
from reefnb.common.files import (
    locked_file,
    read_json_object,
    replaced_folder,
    write_bytes_atomically,
    write_json_object,
)
from reefnb.common.json_input import read_json
from reefnb.common.paths import reef_home, solutions_home
from reefnb.common.scrub import Scrubber
from reefnb.runs.attachments import packed_attachments
from reefnb.runs.meaning import keep_pulled_manifests, manifests_to_share
from reefnb.runs.store import Store, default_store
from reefnb.sharing import crowd, pins, signatures
from reefnb.sharing.package import clean_record, import_once, import_package, is_package
from reefnb.solution.manifest import load_solution
from reefnb.solution.versions import Range, Version, VersionError, resolve, split_spec

log = logging.getLogger(__name__)

REGISTRY_FORMAT = 1
MARKER_NAME = "reef-registry.json"
INDEX_NAME = "index.json"
META_NAME = "meta.json"
PACKAGES_FOLDER = "packages"
RESULTS_FOLDER = "results"
PUSH_ATTEMPTS = 12
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


# --- the list of registries -----------------------------------------------------------------------


def registries_home() -> Path:
    """Where the clones live: ``$REEF_HOME/registries``."""
    return reef_home() / "registries"


def _config_path() -> Path:
    return reef_home() / "registries.json"


def _read_config() -> dict[str, dict]:
    return read_json_object(_config_path())


def _write_config(config: dict[str, dict]) -> None:
    write_json_object(_config_path(), config)


def add_registry(name: str, url: str) -> dict:
    """Remember registry ``name`` at ``url`` (a git URL or a repository folder) and clone it."""
    if not _NAME.fullmatch(name):
        raise RegistryError(f"registry name '{name}': use lower-case letters, digits, '.', '_' and '-'")
    url = checked_url(name, url)
    config = _read_config()
    if name in config and config[name]["url"] != url:
        raise RegistryError(f"registry {name} is already {config[name]['url']}: `reef registry remove {name}` first")
    clone = registries_home() / name
    with _locked(name):
        if not (clone / ".git").is_dir():
            with replaced_folder(clone) as temporary:
                _checkout(name, _clone(name, url, temporary))
    if (
        pins.pinned_policy(name) is None
    ):  # first sight of this registry: its signing policy is what later ones must match
        pins.pin_policy(name, read_policy(clone))
    config[name] = {"url": url, "added": config.get(name, {}).get("added") or _now()}
    _write_config(config)
    return {"name": name, "url": url, "path": str(clone)}


def list_registries() -> list[dict]:
    """The registries added here, in the order they are searched (by name), with their cached component count."""
    entries = []
    for name, entry in sorted(_read_config().items()):
        clone = registries_home() / name
        index = _read_index(clone) if clone.is_dir() else {}
        entries.append(
            {"name": name, "url": entry["url"], "path": str(clone), "components": len(index.get("components", {}))}
        )
    return entries


def remove_registry(name: str) -> dict:
    """Forget registry ``name`` and delete its clone (the registry itself is untouched)."""
    config = _read_config()
    if name not in config:
        raise RegistryError(f"no registry named {name} (added: {', '.join(sorted(config)) or 'none'})")
    entry = config.pop(name)
    with _locked(name):
        shutil.rmtree(registries_home() / name, ignore_errors=True)
    _write_config(config)
    return {"name": name, "url": entry["url"]}


def _chosen(name: str | None) -> list[str]:
    """The registry to use: the named one, else every registry added here (by name)."""
    config = _read_config()
    if name is not None:
        if name not in config:
            raise RegistryError(
                f"no registry named {name} (added: {', '.join(sorted(config)) or 'none'}): `reef registry add "
                f"{name} URL`"
            )
        return [name]
    if not config:
        raise RegistryError("no registry added: `reef registry add NAME URL` (a git URL or a bare repository folder)")
    return sorted(config)


def _one(name: str | None) -> str:
    names = _chosen(name)
    if len(names) > 1:
        raise RegistryError(f"several registries are added ({', '.join(names)}): name one with --registry NAME")
    return names[0]


# --- git ------------------------------------------------------------------------------------------


# Every git command reef runs on a clone: only these transports (never ext::, fd:: or another remote helper,
# whatever the user's git config allows), and no hooks in the clone.
GIT_SAFETY = [
    "protocol.allow=never",
    *(f"protocol.{scheme}.allow=always" for scheme in ("file", "git", "ssh", "http", "https")),
    "core.hooksPath=/dev/null",
]
# A registry on this machine (a folder, or file://) is a repository that others may write: git runs its receiving
# (receive-pack) and sending (upload-pack) side in it, with its config, as the user. These settings, on that side's
# own command line, are above the repository's config: no hook (whatever core.hooksPath says), no command for
# alternate refs, no automatic gc, no update of a checked-out branch's files (filters, fsmonitor), no fsmonitor,
# no reflog created, and reef's identity in a reflog that exists.
REMOTE_GIT = (
    "git -c core.hooksPath=/dev/null -c core.alternateRefsCommand=true -c receive.autogc=false -c "
    "receive.denyCurrentBranch=refuse"
    " -c core.fsmonitor=false -c core.logAllRefUpdates=false -c user.name=reef -c user.email=reef@reef.invalid "
    "-c protocol.allow=never"
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEMES = {"https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"}
_SCP_LIKE = re.compile(
    r"(?:[^@/:\s]+@)?[^-/:\s][^/:\s]*:(?!:).*"
)  # [user@]host:path, as git reads it (no '/' before the ':')


def checked_url(name: str, url: str) -> str:
    """A registry's URL if git reaches it without running a command: a folder here (made absolute), ``https``,
    ``http``, ``ssh``, ``git`` or ``file`` URLs, or ``[user@]host:path``; RegistryError in one line otherwise."""
    shown = _printable(url)
    if not url or url.startswith("-") or any(ord(character) < 32 or ord(character) == 127 for character in url):
        raise RegistryError(
            f"registry {name}: URL '{shown}': not a git URL or a folder (it may not start with '-' or hold "
            "control characters)"
        )
    if "://" not in url and not _SCP_LIKE.fullmatch(url) and Path(url).expanduser().exists():
        return str(Path(url).expanduser().resolve())
    scheme = _SCHEME.match(url)
    helper = re.match(r"([A-Za-z0-9+.-]+)::", url)
    if helper or (scheme and scheme.group(1).lower() not in _SCHEMES):
        transport = (helper or scheme).group(1)
        raise RegistryError(
            f"registry {name}: URL '{shown}': transport '{transport}' is not allowed (it may run commands): a "
            "registry is "
            "reached over https, http, ssh, git or file URLs, [user@]host:path, or is a folder here"
        )
    return url


def _is_local(url: str) -> bool:
    """Whether git reaches ``url`` by running its other side on this machine (a folder, or ``file://``)."""
    scheme = _SCHEME.match(url)
    return scheme.group(1).lower() == "file" if scheme else not _SCP_LIKE.fullmatch(url)


def _transport_options(url: str, side: str) -> list[str]:
    """``--upload-pack``/``--receive-pack`` for a registry on this machine: its side of git runs as ``REMOTE_GIT``."""
    return [f"--{side}-pack={REMOTE_GIT} {side}-pack"] if _is_local(url) else []


def _clone(name: str, url: str, target: Path):
    """A clone of the registry at ``target``, nothing checked out yet (``_checkout`` checks the tree first)."""
    import git

    runner = git.Git()
    runner.set_persistent_git_options(c=GIT_SAFETY)
    local = (
        ["--no-local", *_transport_options(url, "upload")] if _is_local(url) else []
    )  # --no-local: no object copied or linked
    try:
        runner.clone("--quiet", "--no-checkout", *local, "--", url, str(target))
    except git.GitCommandError as error:
        raise RegistryUnreachable(f"registry {name}: cannot clone {url}: {_git_reason(error)}") from None
    repository = git.Repo(target)
    repository.git.set_persistent_git_options(c=GIT_SAFETY)
    return repository


def _check_tree(name: str, repository, ref: str) -> None:
    """IntegrityError when the tree at ``ref`` holds anything but files and folders (a symbolic link, a submodule):
    a registry's links could point anywhere, and reef writes and reads in the clone as the user."""
    listing = repository.git.ls_tree("-r", "-z", "--full-tree", ref, stdout_as_string=False)
    for entry in listing.split(b"\0"):
        mode, _, path = entry.partition(b"\t")
        kind = {b"120000": "a symbolic link", b"160000": "a submodule"}.get(mode.split(b" ", 1)[0])
        if kind:
            raise IntegrityError(
                f"registry {name}: {_printable(path.decode('utf-8', 'replace'))}: {kind} in the registry: "
                "refusing the registry "
                "(a registry holds only files and folders); nothing of it was checked out, written or read"
            )


def _check_local_repository(name: str, url: str) -> None:
    """IntegrityError when a registry on this machine holds a symbolic link anywhere in its repository.

    git makes none there, and git run as the user writes through them (a reflog that is a link is appended to,
    object folders that are links are written into): checked before each push."""
    if not _is_local(url):
        return
    root = Path(url.removeprefix("file://")) if url.startswith("file://") else Path(url)
    folders = [root]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue  # git itself says what it cannot read
        for entry in entries:
            if entry.is_symlink():
                raise IntegrityError(
                    f"registry {name}: {_printable(Path(entry.path).relative_to(root).as_posix())}: a symbolic "
                    "link in the registry's "
                    f"repository ({root}): refusing to push (git, run as you, would write where it points)"
                )
            if entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))


def _printable(text: str, limit: int = 200) -> str:
    """``text`` for a one-line message: control characters as '?', at most ``limit`` characters."""
    text = "".join(character if character.isprintable() else "?" for character in text)
    return text if len(text) <= limit else f"{text[:limit]}..."


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One process at a time works in a clone (other REEF_HOMEs have clones of their own)."""
    with locked_file(registries_home() / f".{name}.lock"):
        yield


def _repository(name: str):
    """The clone of registry ``name`` (cloned again when missing), every git command on it run with ``GIT_SAFETY``."""
    import git

    clone = registries_home() / name
    if not (clone / ".git").is_dir():
        url = checked_url(name, _read_config()[name]["url"])
        shutil.rmtree(clone, ignore_errors=True)
        return _clone(name, url, clone)
    repository = git.Repo(clone)
    repository.git.set_persistent_git_options(c=GIT_SAFETY)
    return repository


def _branch(repository) -> str:
    return repository.git.symbolic_ref("--short", "HEAD")


def _sync(name: str, repository) -> None:
    """Make the clone exactly the registry's current head (the clone never holds work of its own)."""
    import git

    url = _read_config()[name]["url"]
    try:
        repository.git.fetch(*_transport_options(url, "upload"), "origin", "--prune")
    except git.GitCommandError as error:
        raise RegistryUnreachable(f"registry {name}: cannot fetch {url}: {_git_reason(error)}") from None
    _checkout(name, repository)


def _checkout(name: str, repository) -> None:
    """Check out the fetched head in the clone, once its tree is known to hold only files and folders."""
    branch = _branch(repository)
    remote = f"refs/remotes/origin/{branch}"
    if _has_ref(repository, remote):
        _check_tree(name, repository, remote)  # before anything of it is checked out, written or read
        repository.git.reset("--hard", remote)
    elif _has_ref(repository, "HEAD"):  # the registry is still empty: drop local commits a failed push left
        repository.git.update_ref("-d", f"refs/heads/{branch}")
        repository.git.read_tree("--empty")
    repository.git.clean("-fdxq")


def _has_ref(repository, ref: str) -> bool:
    import git

    try:
        repository.git.rev_parse("--verify", "--quiet", ref)
        return True
    except git.GitCommandError:
        return False


def _git_reason(error) -> str:
    lines = [line.strip() for line in str(getattr(error, "stderr", "") or error).splitlines() if line.strip()]
    lines = [
        text for text in (line.removeprefix("stderr:").strip(" '") for line in lines) if text
    ]  # GitPython quotes stderr
    fatal = [line for line in lines if line.startswith("fatal:")]  # git's reason; its advice comes after
    return fatal[0] if fatal else lines[-1] if lines else str(error)


def _identity(repository, anonymous: str | None) -> dict[str, str]:
    """Environment for a commit: an anonymous identity when asked, the user's git identity if set, else reef's."""
    import git

    if anonymous is None:
        if os.environ.get("GIT_AUTHOR_EMAIL") or os.environ.get("GIT_COMMITTER_EMAIL"):
            return {}
        try:
            repository.git.config("--get", "user.email")
            return {}
        except git.GitCommandError:
            anonymous = "reef"
    email = f"{anonymous}@reef.invalid"
    return {
        "GIT_AUTHOR_NAME": anonymous,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": anonymous,
        "GIT_COMMITTER_EMAIL": email,
    }


def _change(
    name: str, apply: Callable[[Path], tuple[list[str], Any]], message: str, anonymous: str | None = None
) -> tuple[Any, bool]:
    """Apply a change to the registry's head, commit and push; on a refused push fetch, re-apply and retry.

    ``apply(folder)`` writes into the clone and returns (paths changed, result); no paths: nothing to push.
    Returns (result, whether a commit was pushed).
    """
    import git

    with _locked(name):
        repository = _repository(name)
        for attempt in range(PUSH_ATTEMPTS):
            _sync(name, repository)
            folder = Path(repository.working_tree_dir)
            paths, result = _applied(name, folder, apply)
            if not paths:
                return result, False
            repository.git.add("--", MARKER_NAME, *paths)
            repository.git.commit("-q", "-m", message, env=_identity(repository, anonymous))
            try:
                url = _read_config()[name]["url"]
                _check_local_repository(name, url)
                repository.git.push(
                    *_transport_options(url, "receive"), "origin", f"HEAD:refs/heads/{_branch(repository)}"
                )
                return result, True
            except git.GitCommandError as error:
                reason = _git_reason(error)
                log.info("registry %s: push refused (%s); fetching and trying again", name, reason)
                if attempt == PUSH_ATTEMPTS - 1:
                    raise RegistryUnreachable(
                        f"registry {name}: push refused {PUSH_ATTEMPTS} times, last: {reason}"
                    ) from None
                time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))
    raise AssertionError("unreachable")


def _applied(name: str, folder: Path, apply: Callable[[Path], tuple[list[str], Any]]) -> tuple[list[str], Any]:
    """``apply(folder)``, and the registry's marker when it has none; a file where the change needs a folder (or
    the other way round) is one line naming it."""
    try:
        paths, result = apply(folder)
        if paths and not (folder / MARKER_NAME).is_file():
            (folder / MARKER_NAME).write_text(json.dumps({"format": REGISTRY_FORMAT}) + "\n", encoding="utf-8")
    except OSError as error:
        where = Path(error.filename2 or error.filename or folder)  # a rename's target, not its temporary file
        relative = where.relative_to(folder).as_posix() if where.is_relative_to(folder) else where.name
        raise RegistryError(
            f"registry {name}: {_printable(relative)}: cannot be written ({error.strerror or error}): the "
            "registry holds a file where "
            "a folder belongs, or a folder where a file belongs; refusing it"
        ) from None
    return paths, result


def _refreshed(names: list[str]) -> dict[str, Path]:
    """Each registry's clone brought up to date (a registry that
    cannot be reached is read as cached, with a warning)."""
    folders = {}
    for name in names:
        with _locked(name):
            repository = _repository(name)
            try:
                _sync(name, repository)
            except RegistryError as error:
                log.warning("%s; using the cached copy", error)
                if _has_ref(repository, "HEAD"):
                    _check_tree(name, repository, "HEAD")  # a clone made before links were refused
            folders[name] = Path(repository.working_tree_dir)
    return folders


# --- components -----------------------------------------------------------------------------------


def _read_index(folder: Path) -> dict:
    path = folder / INDEX_NAME
    if not path.is_file():
        return {"format": REGISTRY_FORMAT, "components": {}}
    return read_json(path, schema="registry-index")


def _build_index(folder: Path) -> dict:
    """The index, made from every ``packages/NAME/VERSION/meta.json``."""
    components: dict[str, dict] = {}
    for meta_path in sorted((folder / PACKAGES_FOLDER).glob(f"*/*/{META_NAME}")):
        meta = read_json(meta_path, schema="registry-meta")
        entry = components.setdefault(meta["name"], {"versions": {}})
        entry["versions"][meta["version"]] = {
            key: meta[key] for key in ("sha256", "size", "depends", "published", "file") if key in meta
        }
    for name, entry in components.items():
        latest = max(entry["versions"], key=lambda text: Version.parse(text).key())
        meta = read_json(folder / PACKAGES_FOLDER / name / latest / META_NAME, schema="registry-meta")
        entry.update(
            {
                "latest": latest,
                "kind": meta.get("kind", "solution"),
                "description": meta.get("description", ""),
                "keywords": meta.get("keywords", []),
            }
        )
    return {"format": REGISTRY_FORMAT, "components": dict(sorted(components.items()))}


def publish(package: str | Path, registry: str | None = None, sign: str | Path | None = None) -> dict:
    """Publish a package (``.reef.zip``) as NAME@VERSION in a registry, pinned here to its sha256.

    The package is checked as ``reef import`` checks it and its manifest validated. A version
    already published with the same bytes is left as it is (``published`` False); with other
    bytes it is refused: versions are immutable (as are versions pinned here). A registry that
    lists signers takes only their signatures, and one that requires signatures takes no unsigned
    package.

    Parameters
    ----------
    package
        The package file, as ``reef export`` writes it.
    registry
        The registry's name; may be left out when only one is added.
    sign
        An OpenSSH private key: its signature goes beside the package.

    Returns
    -------
    dict
        ``registry``, ``name``, ``version``, ``sha256``, ``size``, ``published`` (False when that
        version was there already), ``kind``, ``signer`` and ``signed``.

    Raises
    ------
    PackageError
        When ``package`` is not a package file, or ``reef import`` would refuse it.
    ManifestError
        When its manifest is invalid.
    RegistryError
        When the registry is not added (or several are and none is named), cannot be reached or
        changed, or holds other bytes under that version.
    IntegrityError
        When the registry requires a signature (or a listed signer's) that the package lacks, or that
        version is pinned here to other bytes.
    """
    package = Path(package)
    if not is_package(package):
        raise PackageError(f"{package}: not a package file (.reef.zip): make one with `reef export`")
    name = _one(registry)
    content = package.read_bytes()
    meta = _package_meta(_checked_manifest(package), content)
    signature = signatures.sign(sign, content) if sign is not None else None
    publication = _Publication(name, package, content, meta, signature)
    entry, pushed = _change(name, publication.apply, f"publish {publication.identity}")
    pins.pin(name, meta["name"], meta["version"], meta["sha256"], "published", publication.signer)
    return {
        "registry": name,
        "name": meta["name"],
        "version": meta["version"],
        "sha256": meta["sha256"],
        "size": len(content),
        "published": pushed,
        "kind": entry.get("kind", "solution"),
        "signer": publication.signer,
        "signed": signature is not None,
    }


def _checked_manifest(package: Path) -> dict:
    """The manifest data of a package checked as ``reef import``
    checks it (errors name the package, not a scratch folder)."""
    with tempfile.TemporaryDirectory(prefix="reef-publish-") as scratch:
        try:
            solution = load_solution(import_package(package, Path(scratch) / "solution"))
        except ManifestError as error:  # name the package, not the scratch folder
            raise ManifestError(
                [problem.replace(str(Path(scratch) / "solution"), f"{package}!") for problem in error.problems]
            ) from None
    return solution.data


def _package_meta(data: dict, content: bytes) -> dict:
    """A published version's ``meta.json``: what the manifest says of it, the package's sha256, size and file name."""
    return {
        "name": data["name"],
        "version": data["version"],
        "kind": data.get("kind", "solution"),
        "description": data.get("description", ""),
        "keywords": data.get("keywords", []),
        "license": data.get("license"),
        "authors": [author.get("name") for author in data.get("authors", []) if author.get("name")],
        "depends": data.get("components", {}),
        "sha256": hashlib.sha256(content).hexdigest(),
        "size": len(content),
        "file": f"{data['name']}-{data['version']}.reef.zip",
        "published": _now(),
    }


@dataclass
class _Publication:
    """A package on its way into registry ``name``: ``apply`` writes it into a clone (``_change`` may call it again
    after a refused push) and keeps the signer the registry accepted."""

    name: str
    package: Path
    content: bytes
    meta: dict
    signature: bytes | None
    signer: str | None = None

    @property
    def identity(self) -> str:
        return f"{self.meta['name']}@{self.meta['version']}"

    def apply(self, folder: Path) -> tuple[list[str], dict]:
        """Write the package, its signature and ``meta.json`` into
        the clone at ``folder``; (paths changed, its meta)."""
        self.signer = _publishable_signature(
            self.name, folder, self.content, self.signature, f"{self.package}: {self.identity}"
        )
        version_folder = folder / PACKAGES_FOLDER / self.meta["name"] / self.meta["version"]
        signature_path = version_folder / f"{self.meta['file']}{signatures.SIGNATURE_SUFFIX}"
        if (version_folder / META_NAME).is_file():
            return self._published_before(folder, version_folder, signature_path)
        pins.check_pin(
            self.name, self.meta["name"], self.meta["version"], self.meta["sha256"]
        )  # seen here before, and gone from the registry since
        version_folder.mkdir(parents=True, exist_ok=True)
        (version_folder / self.meta["file"]).write_bytes(self.content)
        if self.signature is not None:
            signature_path.write_bytes(self.signature)
        write_json_object(version_folder / META_NAME, self.meta)
        write_json_object(folder / INDEX_NAME, _build_index(folder))
        return [INDEX_NAME, str(version_folder.relative_to(folder))], self.meta

    def _published_before(self, folder: Path, version_folder: Path, signature_path: Path) -> tuple[list[str], dict]:
        """The version is in the registry: the same bytes are left as
        they are (signed now if they were not); others refused."""
        existing = read_json(version_folder / META_NAME, schema="registry-meta")
        digest = self.meta["sha256"]
        if existing.get("sha256") != digest:
            raise RegistryError(
                f"{self.package}: {self.identity} is already published in registry {self.name} with other bytes "
                f"(sha256 {existing.get('sha256', '?')[:12]}, this package {digest[:12]}): versions are "
                "immutable; publish it as a new version"
            )
        if self.signature is None or signature_path.is_file():
            return [], existing
        signature_path.write_bytes(self.signature)  # the same bytes, signed now
        return [str(signature_path.relative_to(folder))], existing


def _publishable_signature(name: str, folder: Path, content: bytes, signature: bytes | None, where: str) -> str | None:
    """The signer of a package about to be published (None: unsigned,
    or no signers listed); refuses what the registry would."""
    policy = checked_policy(name, folder)
    if signature is None:
        if policy["require_signatures"]:
            raise IntegrityError(
                f"{where}: registry {name} requires signatures: publish with --sign KEY (the private key of a "
                f"signer it lists: {_signer_names(policy)})"
            )
        return None
    if policy["signers"]:
        try:
            return signatures.verify(content, signature, policy["signers"], where)
        except IntegrityError as error:
            raise IntegrityError(
                f"{error}; a registry owner adds a signer with `reef registry configure {name} --signer ID=KEY.pub`"
            ) from None
    signatures.check(content, signature, where)
    return None


def search(text: str = "", registry: str | None = None) -> list[dict]:
    """Components whose name, kind, description or keywords contain ``text`` (every word of it), in every registry.

    Parameters
    ----------
    text
        Words to look for, case-insensitive (empty: every component).
    registry
        Search only this registry (default: every registry added here).

    Returns
    -------
    list of dict
        ``registry``, ``name``, ``kind``, ``latest``, ``versions`` (oldest first) and ``description`` of
        each component found.

    Raises
    ------
    RegistryError
        When no registry is added, or ``registry`` is not.
    """
    words = text.lower().split()
    found = []
    for name, folder in _refreshed(_chosen(registry)).items():
        listed = _read_index(folder).get("components", {})
        pins.note_seen(name, {component: list(entry.get("versions", {})) for component, entry in listed.items()})
        for component, entry in listed.items():
            haystack = " ".join(
                [component, entry.get("kind", ""), entry.get("description", ""), *entry.get("keywords", [])]
            ).lower()
            if all(word in haystack for word in words):
                versions = sorted(entry["versions"], key=lambda version: Version.parse(version).key())
                found.append(
                    {
                        "registry": name,
                        "name": component,
                        "kind": entry.get("kind", "solution"),
                        "latest": entry.get("latest"),
                        "versions": versions,
                        "description": entry.get("description", ""),
                    }
                )
    return found


def pull(
    spec: str,
    registry: str | None = None,
    target: str | Path | None = None,
    dry_run: bool = False,
    dependencies: bool = True,
    allow_downgrade: bool = False,
) -> dict:
    """Fetch ``NAME``, ``NAME@VERSION`` or ``NAME@RANGE`` and every component it needs, verified, and import them.

    Versions are resolved first (the highest that satisfies every range; a conflict or a cycle is
    an error and nothing is fetched). Each package's sha256 must match the registry's ``meta.json``
    and its index, then it is imported with ``reef import``'s checks into
    ``$REEF_HOME/solutions/NAME-VERSION`` (the same package there is reused).

    Parameters
    ----------
    spec
        ``NAME``, ``NAME@VERSION`` or ``NAME@RANGE``.
    registry
        Look only in this registry (default: every registry added here; the first by name that has a
        version wins).
    target
        Import the requested component into this folder instead.
    dry_run
        Only the resolution happens.
    dependencies
        False: only the requested component is fetched (all are still resolved).
    allow_downgrade
        Accept a resolution below a version seen listed here before that the registry no longer lists (which
        is refused otherwise); what the registry lists now becomes the highest seen.

    Returns
    -------
    dict
        ``name``, ``version`` and ``folder`` (None with ``dry_run``) of the requested component, and
        ``components``: each resolved one's ``name``, ``version``, ``registry`` and ``sha256`` (and, once
        fetched, ``folder`` and ``signer``).

    Raises
    ------
    VersionError
        When ``spec`` cannot be parsed or the versions cannot be resolved (no such component; a
        conflict, ``ConflictError``; a cycle, ``CycleError``).
    IntegrityError
        When a package's bytes are not the ones pinned or published, or lack a signature the registry requires,
        or (without ``allow_downgrade``) the resolution goes below a version seen here that is no longer listed.
    RegistryError
        When a registry cannot be reached or refuses what was asked.
    PackageError
        When ``reef import`` refuses a package.
    """
    component, range_text = split_spec(spec)
    folders = _refreshed(_chosen(registry))
    published: dict[str, dict[str, dict]] = {}
    for name, folder in folders.items():  # the first registry (by name) that has a version wins
        listed = _read_index(folder).get("components", {})
        for entry_name, entry in listed.items():
            for version, details in entry.get("versions", {}).items():
                published.setdefault(entry_name, {}).setdefault(version, {**details, "registry": name})
        pins.note_seen(name, {entry_name: list(entry.get("versions", {})) for entry_name, entry in listed.items()})
    chosen = resolve(component, range_text, lambda name: published.get(name, {}))
    rollbacks = _rollbacks(component, range_text, published, _vanished(list(folders), published), chosen)
    if rollbacks and not allow_downgrade:
        name, version, gone = rollbacks[0]
        raise IntegrityError(
            f"{spec}: {name} {gone['version']} was published in registry {gone['registry']} when seen here "
            f"({gone['seen']}) and is gone "
            f"now: refusing to go back to {name}@{version} (a registry that drops a version may be withholding "
            "a fix); to accept "
            f"the older version: `reef pull {spec} --allow-downgrade`"
        )
    for name, version, gone in rollbacks:
        log.warning(
            "%s: %s %s is gone from registry %s; going back to %s@%s (--allow-downgrade)",
            spec,
            name,
            gone["version"],
            gone["registry"],
            name,
            version,
        )
    components = [
        {
            "name": name,
            "version": version,
            "registry": published[name][version]["registry"],
            "sha256": published[name][version]["sha256"],
        }
        for name, version in chosen.items()
    ]
    for entry in components:  # a version pinned here to other bytes is refused before anything is fetched
        pins.check_pin(entry["registry"], entry["name"], entry["version"], entry["sha256"])
    if not dry_run:
        policies = {
            name: checked_policy(name, folders[name]) for name in sorted({entry["registry"] for entry in components})
        }
        for entry in components if dependencies else components[:1]:
            package, entry["signer"] = _verified_package(folders[entry["registry"]], entry, policies[entry["registry"]])
            entry["folder"] = str(_imported(package, target if entry["name"] == component else None))
            pins.pin(entry["registry"], entry["name"], entry["version"], entry["sha256"], "pulled", entry["signer"])
        for name, _, gone in rollbacks:  # the user accepted it: what is listed now is the highest seen
            pins.accept_highest(gone["registry"], name, max(published[name], key=_version_key))
    root = components[0]
    return {"name": root["name"], "version": root["version"], "folder": root.get("folder"), "components": components}


def _vanished(registries: list[str], published: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Component name -> the highest version seen listed in one of ``registries`` that none of them lists now
    (``version``, ``registry``, ``seen``)."""
    vanished: dict[str, dict] = {}
    for name in registries:
        for component, entry in pins.highest_seen(name).items():
            if entry["version"] in published.get(component, {}) or not published.get(component):
                continue  # still listed; or the component is gone whole, which resolution refuses anyway
            known = vanished.get(component)
            if known is None or _version_key(entry["version"]) > _version_key(known["version"]):
                vanished[component] = {**entry, "registry": name}
    return vanished


def _version_key(text: str) -> tuple:
    try:
        return (1, Version.parse(text).key())
    except VersionError:
        return (0,)


def _rollbacks(
    component: str, range_text: str, published: dict, vanished: dict[str, dict], chosen: dict[str, str]
) -> list[tuple[str, str, dict]]:
    """(name, version chosen, the vanished entry) for each component the resolution would have given a version that
    disappeared: the same resolution with the vanished versions listed again (without their dependencies) picks them."""
    if not vanished:
        return []

    def with_vanished(name: str) -> dict[str, dict]:
        versions = dict(published.get(name, {}))
        if name in vanished:
            versions.setdefault(vanished[name]["version"], {"depends": {}})
        return versions

    try:
        shadow = resolve(component, range_text, with_vanished)
    except VersionError:
        return []
    return [
        (name, chosen[name], vanished[name])
        for name, version in shadow.items()
        if name in vanished and version == vanished[name]["version"] and chosen.get(name) not in (None, version)
    ]


def _verified_package(folder: Path, entry: dict, policy: dict) -> tuple[Path, str | None]:
    """The package's bytes checked against the registry's sha256, the pin and the signing ``policy``, copied to
    ``$REEF_HOME/cache/packages``; with the identity of its signer (None when unsigned or no signers are listed)."""
    relative = f"{PACKAGES_FOLDER}/{entry['name']}/{entry['version']}"
    version_folder = folder / relative
    meta = read_json(
        version_folder / META_NAME,
        schema="registry-meta",
        source=f"registry {entry['registry']}: {relative}/{META_NAME}",
    )
    file_name = f"{entry['name']}-{entry['version']}.reef.zip"
    if (meta["name"], meta["version"], meta["file"]) != (entry["name"], entry["version"], file_name):
        raise RegistryError(
            f"registry {entry['registry']}: {relative}/{META_NAME}: /name, /version or /file: not "
            f"{entry['name']}, {entry['version']} and {file_name}: refusing a misplaced package"
        )
    try:
        content = (version_folder / file_name).read_bytes()
    except OSError as error:
        raise RegistryError(
            f"registry {entry['registry']}: {relative}/{file_name}: unreadable: {error.strerror or error}"
        ) from None
    digest = hashlib.sha256(content).hexdigest()
    if not digest == meta["sha256"] == entry["sha256"]:
        raise RegistryError(
            f"registry {entry['registry']}: {relative}/{file_name}: "
            f"sha256 {digest[:12]} does not match the published {entry['sha256'][:12]}: refusing a tampered package"
        )
    pins.check_pin(entry["registry"], entry["name"], entry["version"], digest)
    signer = _signer(
        entry["registry"],
        policy,
        content,
        version_folder / f"{file_name}{signatures.SIGNATURE_SUFFIX}",
        f"registry {entry['registry']}: {relative}/{file_name}",
    )
    cached = reef_home() / "cache" / "packages" / f"{digest}.reef.zip"
    if not cached.is_file():
        write_bytes_atomically(cached, content)
    return cached, signer


def _signer(name: str, policy: dict, content: bytes, signature_path: Path, where: str) -> str | None:
    """Who signed a package being pulled: its signature is verified against the pinned signers whenever it has one."""
    if not signature_path.is_file():
        if policy["require_signatures"]:
            raise IntegrityError(
                f"{where}: unsigned, and registry {name} requires signatures (by {_signer_names(policy)}): refusing it"
            )
        return None
    if signature_path.stat().st_size > signatures.MAX_SIGNATURE_BYTES:
        raise IntegrityError(
            f"{where}{signatures.SIGNATURE_SUFFIX}: larger than {signatures.MAX_SIGNATURE_BYTES} bytes: not a signature"
        )
    signature = signature_path.read_bytes()
    if policy["signers"]:
        return signatures.verify(content, signature, policy["signers"], where)
    signatures.check(content, signature, where)
    return None


# --- the signing policy (reef-registry.json) ------------------------------------------------------


def read_policy(folder: Path) -> dict:
    """The signing policy in a clone's ``reef-registry.json`` (none: nothing required, no signers)."""
    path = folder / MARKER_NAME
    if not path.exists():
        return pins.canonical_policy({})
    return pins.canonical_policy(
        read_json(path, max_bytes=1024 * 1024, schema="registry", source=f"registry {folder.name}: {MARKER_NAME}")
    )


def checked_policy(name: str, folder: Path) -> dict:
    """The signing policy to apply: the one pinned here, which the registry's current one must still be.

    The first policy seen is pinned; a registry that had none (nothing required, no signers) may turn
    signing on, and that is pinned too; any other change (a signer added, removed or replaced,
    signatures no longer required) is refused until the user forgets the pinned policy.
    """
    current, pinned = read_policy(folder), pins.pinned_policy(name)
    if pinned == current:
        return pinned
    if pinned is None or pinned == pins.canonical_policy({}):
        pins.pin_policy(name, current)
        return current
    changes = [
        f"signers {_signer_names(pinned)} -> {_signer_names(current)}"
        if pinned["signers"] != current["signers"]
        else "",
        f"require_signatures {json.dumps(pinned['require_signatures'])} -> {json.dumps(current['require_signatures'])}"
        if pinned["require_signatures"] != current["require_signatures"]
        else "",
    ]
    raise IntegrityError(
        f"registry {name}: {MARKER_NAME}: its signing policy changed since first seen here (sha256 "
        f"{pins.policy_digest(current)}, "
        f"pinned {pins.policy_digest(pinned)}: {', '.join(change for change in changes if change)}): refusing "
        "it; if the registry's "
        f"owners really changed it: `reef registry forget --signers --registry {name}`"
    )


def _signer_names(policy: dict) -> str:
    return ", ".join(sorted({signer["identity"] for signer in policy["signers"]})) or "none"


def configure(
    name: str,
    signers: dict[str, str | Path] | None = None,
    remove: list[str] | None = None,
    require_signatures: bool | None = None,
) -> dict:
    """Change registry ``name``'s signing policy (``reef-registry.json``) and pin the new one here.

    ``signers`` maps identities (e.g. ``alice@example.org``) to public key files (``KEY.pub``); an
    identity already listed gets the new key. ``remove`` drops identities. The registry's current
    policy must be the one pinned here: this machine never blesses a change it did not make.
    """
    name = _one(name)
    keys = {
        signatures.check_identity(identity): signatures.public_key(path) for identity, path in (signers or {}).items()
    }

    def apply(folder: Path) -> tuple[list[str], dict]:
        policy = checked_policy(name, folder)
        marker = (
            read_json(folder / MARKER_NAME, max_bytes=1024 * 1024, schema="registry")
            if (folder / MARKER_NAME).exists()
            else {}
        )
        listed = {
            signer["identity"]: signer["key"]
            for signer in policy["signers"]
            if signer["identity"] not in (remove or [])
        }
        listed.update(keys)
        wanted = policy["require_signatures"] if require_signatures is None else require_signatures
        if wanted and not listed:
            raise RegistryError(
                f"registry {name}: requiring signatures needs at least one signer: add --signer ID=KEY.pub"
            )
        new = pins.canonical_policy(
            {
                "require_signatures": wanted,
                "signers": [{"identity": key, "key": value} for key, value in listed.items()],
            }
        )
        if new == policy:
            return [], new
        write_json_object(folder / MARKER_NAME, {**marker, "format": REGISTRY_FORMAT, **new})
        return [MARKER_NAME], new

    policy, changed = _change(name, apply, "signing policy")
    pins.pin_policy(name, policy)
    return {"registry": name, "changed": changed, **policy}


def forget(spec: str | None = None, registry: str | None = None, signers: bool = False) -> list[dict]:
    """Forget pins of registry ``registry`` here: ``NAME@VERSION``'s sha256, and/or (``signers``) its signing policy."""
    name = _one(registry) if registry is None or registry in _read_config() else registry
    if spec is None and not signers:
        raise RegistryError(
            "reef registry forget: name NAME@VERSION to forget its pinned sha256, or --signers for the signing policy"
        )
    forgotten = []
    if spec is not None:
        component, version = split_spec(spec)
        if not version:
            raise RegistryError(f"{spec}: name one version, NAME@VERSION")
        forgotten.append(pins.forget(name, f"{component}@{version}"))
    if signers:
        forgotten.append(pins.forget_policy(name))
    return forgotten


def _imported(package: Path, target: str | Path | None) -> Path:
    if target is not None:
        return import_package(package, target)
    return import_once(package)


def component_folder(name: str, range_text: str = "") -> Path:
    """The folder of the highest pulled version of component ``name`` in ``range_text`` (for notebooks that use it)."""
    prefix = f"{name}-"
    versions = [folder.name[len(prefix) :] for folder in solutions_home().glob(f"{name}-*") if folder.is_dir()]
    best = Range.parse(range_text).best(versions)
    if best is None:
        raise RegistryError(
            f"{name}@{range_text or '*'}: not pulled here (pulled: {', '.join(sorted(versions)) or 'none'}): "
            f"`reef pull {name}@{range_text or '*'}`"
        )
    return solutions_home() / f"{name}-{best}"


def is_spec(source: str) -> bool:
    """Whether ``source`` reads as NAME[@RANGE] rather than a path (for ``reef init NAME@RANGE``)."""
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}(@[^/\\]*)?", source)) and not Path(source).exists()


# --- crowd results --------------------------------------------------------------------------------


def contributor(identify: bool = False) -> str:
    """``USER@HOST`` with ``identify``, else this machine's anonymous id (random, kept in
    ``$REEF_HOME/contributor.json``)."""
    if identify:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    path = reef_home() / "contributor.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["id"]
    except (OSError, ValueError, KeyError):
        identity = f"anon-{secrets.token_hex(6)}"
        write_json_object(path, {"id": identity})
        return identity


def shareable_record(record: dict, identify: bool = False, scrubbers: dict | None = None) -> dict:
    """A run record as shared: no paths, and no user or host name unless ``identify``; ``origin`` says whose.

    ``scrubbers`` (a dict kept by the caller) reuses one Scrubber per solution folder and host name, so the
    strings many records repeat (the fingerprint) are scrubbed once.
    """
    hostname = (record.get("environment") or {}).get("hostname")
    folder = (record.get("solution") or {}).get("path")
    scrubbers = {} if scrubbers is None else scrubbers
    scrubber = scrubbers.get((folder, hostname, identify))
    if scrubber is None:
        scrubber = scrubbers[(folder, hostname, identify)] = Scrubber(
            folder, identify=identify, names=(hostname,) if hostname else ()
        )
    shared = scrubber.value(clean_record(record))
    shared["solution"]["path"] = "."  # the schema wants one; the sharer's own folder is nobody's business
    if identify and hostname:
        shared["environment"]["hostname"] = hostname
    shared["origin"] = {"contributor": contributor(identify), "identified": identify, "shared": _now()}
    return shared


SHARED_FILES_LIMIT = 10 * 2**20  # push --with-files: attached files shared at most, in all


def push_results(
    solution: str | None = None,
    registry: str | None = None,
    identify: bool = False,
    store: Store | None = None,
    with_files: bool = False,
    files_limit: int = SHARED_FILES_LIMIT,
) -> dict:
    """Share this machine's run records (of one solution, or all) in the registry's results shards (``crowd``).

    Records pulled from others are not pushed again; a run already shared is left as it is. However many
    records are pushed, they arrive in one commit. Records go through the scrubber: no paths, and no
    user or host name unless ``identify``.

    Parameters
    ----------
    solution
        Only the runs of the solution of this name (default: all).
    registry
        The registry's name; may be left out when only one is added.
    identify
        Sign the records ``USER@HOST`` (default: this machine's anonymous id, kept in ``$REEF_HOME``).
    store
        The ``Store`` to read (default: the default store).
    with_files
        The files the runs attached go too (``files/RUN_ID/NAME``, checked as for a package).
    files_limit
        Bytes at most of attached files, in all; what is left out is listed in ``files_left_out``.

    Returns
    -------
    dict
        ``registry``, ``contributor``, ``pushed`` (records new to the registry) and ``already`` (shared
        before); with ``with_files`` also ``files`` and ``files_left_out``.

    Raises
    ------
    RegistryError
        When the registry is not added (or several are and none is named), or cannot be reached or changed.
    """
    name = _one(registry)
    store = store or default_store()
    scrubbers: dict = {}
    local = [record for record in store.records(solution=solution) if "origin" not in record]
    manifests = manifests_to_share(local)  # what the runs mean (metrics' goals, reference results) travels with them
    records = [shareable_record(record, identify, scrubbers) for record in local]
    left_out: list[str] = []
    attached = _attached_to_share(local, identify, scrubbers, files_limit, left_out) if with_files else {}
    manifests.update(attached)
    del local
    who = contributor(identify)

    def apply(folder: Path) -> tuple[list[str], dict]:
        changed, written = crowd.write_shards(folder, records)
        for relative, content in manifests.items():
            if not (folder / relative).is_file():
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                (folder / relative).write_bytes(content)
                changed.append(relative)
        return changed, {"pushed": written, "already": len(records) - written}

    counts, _ = _change(name, apply, f"results: {len(records)} runs from {who}", anonymous=None if identify else who)
    return {
        "registry": name,
        "contributor": who,
        **counts,
        **({"files": len(attached), "files_left_out": left_out} if with_files else {}),
    }


def _attached_to_share(
    records: list[dict], identify: bool, scrubbers: dict, limit: int, left_out: list[str]
) -> dict[str, bytes]:
    """``files/RUN_ID/NAME`` -> bytes of the files the runs attached, within ``limit`` bytes in all."""
    shared: dict[str, bytes] = {}
    for record in records:
        hostname = (record.get("environment") or {}).get("hostname")
        scrubber = scrubbers.get(((record.get("solution") or {}).get("path"), hostname, identify))
        for name, content in packed_attachments(
            record, scrubber, left_out, room=limit - sum(map(len, shared.values()))
        ):
            shared[f"files/{record['run_id']}/{name}"] = content
    return shared


def pull_results(solution: str | None = None, registry: str | None = None, store: Store | None = None) -> dict:
    """Merge the run records shared in the registries into the local store (run ids already here are kept as they are).

    Only records whose run id is not here yet are parsed; a part or file that cannot be read is skipped
    with a warning naming it (listed in ``refused``).

    Parameters
    ----------
    solution
        Only the runs of the solution of this name (default: all).
    registry
        Pull only from this registry (default: every registry added here).
    store
        The ``Store`` to merge into (default: the default store).

    Returns
    -------
    dict
        ``records`` (the shared records seen, those already here included, less those refused),
        ``new`` (how many were merged) and ``refused`` (the parts and records that could not be read).

    Raises
    ------
    RegistryError
        When no registry is added, ``registry`` is not, or one cannot be reached.
    """
    store = store or default_store()
    records, refused, seen = [], [], 0
    for name, folder in _refreshed(_chosen(registry)).items():
        found, bad, count = crowd.read_results(folder, name, solution, store.known_run_ids)
        keep_pulled_manifests(folder, name)
        for record in found:
            record["origin"]["registry"] = name
        records += found
        refused += bad
        seen += count
    new = store.merge(records)
    return {"records": seen - len(refused), "new": new, "refused": refused}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

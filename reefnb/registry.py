"""Registries: git repositories of published components and shared run records.

A registry is any git repository (a git host, or a bare repository on a shared disk). Its layout:

    reef-registry.json                          {"format": 1}: marks the repository as a registry
    index.json                                  every component: kind, description, keywords, latest, versions
    packages/NAME/VERSION/NAME-VERSION.reef.zip the package, exactly as exported
    packages/NAME/VERSION/meta.json             that version's entry: sha256, size, depends, kind, description...
    results/SOLUTION/RUN_ID.json                one shared run record per file (``origin.contributor`` says whose)

Versions are immutable and every change only adds files; ``index.json`` is rebuilt from the
``meta.json`` files. So two people publishing or pushing results at once never conflict: the one
whose push is refused fetches, re-applies its change on the new head and pushes again.
Clones are cached under ``$REEF_HOME/registries/NAME``; the list of registries is
``$REEF_HOME/registries.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .exceptions import InputError, ReefError
from .json_input import read_json
from .local import read_json_object, write_json_object
from .store import reef_home
from .versions import Range, Version, resolve, split_spec

log = logging.getLogger(__name__)

REGISTRY_FORMAT = 1
MARKER_NAME = "reef-registry.json"
INDEX_NAME = "index.json"
META_NAME = "meta.json"
PACKAGES_FOLDER = "packages"
RESULTS_FOLDER = "results"
PUSH_ATTEMPTS = 12
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


class RegistryError(ReefError):
    """A registry cannot be reached or changed, or refuses what was asked (names the registry)."""


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
    import git

    if not _NAME.fullmatch(name):
        raise RegistryError(f"registry name '{name}': use lower-case letters, digits, '.', '_' and '-'")
    if "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url) and Path(url).expanduser().exists():
        url = str(Path(url).expanduser().resolve())
    config = _read_config()
    if name in config and config[name]["url"] != url:
        raise RegistryError(f"registry {name} is already {config[name]['url']}: `reef registry remove {name}` first")
    clone = registries_home() / name
    with _locked(name):
        if not (clone / ".git").is_dir():
            temporary = registries_home() / f".{name}.{os.getpid()}.tmp"
            shutil.rmtree(temporary, ignore_errors=True)
            try:
                git.Repo.clone_from(url, temporary)
            except git.GitCommandError as error:
                shutil.rmtree(temporary, ignore_errors=True)
                raise RegistryError(f"registry {name}: cannot clone {url}: {_git_reason(error)}") from None
            shutil.rmtree(clone, ignore_errors=True)
            os.replace(temporary, clone)
    config[name] = {"url": url, "added": config.get(name, {}).get("added") or _now()}
    _write_config(config)
    return {"name": name, "url": url, "path": str(clone)}


def list_registries() -> list[dict]:
    """The registries added here, in the order they are searched (by name), with their cached component count."""
    entries = []
    for name, entry in sorted(_read_config().items()):
        clone = registries_home() / name
        index = _read_index(clone) if clone.is_dir() else {}
        entries.append({"name": name, "url": entry["url"], "path": str(clone), "components": len(index.get("components", {}))})
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
            raise RegistryError(f"no registry named {name} (added: {', '.join(sorted(config)) or 'none'}): "
                                f"`reef registry add {name} URL`")
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


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One process at a time works in a clone (other REEF_HOMEs have clones of their own)."""
    registries_home().mkdir(parents=True, exist_ok=True)
    with open(registries_home() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _repository(name: str):
    import git

    clone = registries_home() / name
    if not (clone / ".git").is_dir():
        url = _read_config()[name]["url"]
        shutil.rmtree(clone, ignore_errors=True)
        try:
            return git.Repo.clone_from(url, clone)
        except git.GitCommandError as error:
            raise RegistryError(f"registry {name}: cannot clone {url}: {_git_reason(error)}") from None
    return git.Repo(clone)


def _branch(repository) -> str:
    return repository.git.symbolic_ref("--short", "HEAD")


def _sync(name: str, repository) -> None:
    """Make the clone exactly the registry's current head (the clone never holds work of its own)."""
    import git

    branch = _branch(repository)
    try:
        repository.git.fetch("origin", "--prune")
    except git.GitCommandError as error:
        raise RegistryError(f"registry {name}: cannot fetch {_read_config()[name]['url']}: {_git_reason(error)}") from None
    remote = f"refs/remotes/origin/{branch}"
    if _has_ref(repository, remote):
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
    lines = [text for text in (line.removeprefix("stderr:").strip(" '") for line in lines) if text]  # GitPython quotes stderr
    return lines[-1] if lines else str(error)


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
    return {"GIT_AUTHOR_NAME": anonymous, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": anonymous, "GIT_COMMITTER_EMAIL": email}


def _change(name: str, apply: Callable[[Path], tuple[list[str], Any]], message: str, anonymous: str | None = None) -> tuple[Any, bool]:
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
            paths, result = apply(folder)
            if not paths:
                return result, False
            if not (folder / MARKER_NAME).is_file():
                (folder / MARKER_NAME).write_text(json.dumps({"format": REGISTRY_FORMAT}) + "\n", encoding="utf-8")
            repository.git.add("--", MARKER_NAME, *paths)
            repository.git.commit("-q", "-m", message, env=_identity(repository, anonymous))
            try:
                repository.git.push("origin", f"HEAD:refs/heads/{_branch(repository)}")
                return result, True
            except git.GitCommandError as error:
                reason = _git_reason(error)
                log.info("registry %s: push refused (%s); fetching and trying again", name, reason)
                if attempt == PUSH_ATTEMPTS - 1:
                    raise RegistryError(f"registry {name}: push refused {PUSH_ATTEMPTS} times, last: {reason}") from None
                time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))
    raise AssertionError("unreachable")


def _refreshed(names: list[str]) -> dict[str, Path]:
    """Each registry's clone brought up to date (a registry that cannot be reached is read as cached, with a warning)."""
    folders = {}
    for name in names:
        with _locked(name):
            repository = _repository(name)
            try:
                _sync(name, repository)
            except RegistryError as error:
                log.warning("%s; using the cached copy", error)
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
        entry["versions"][meta["version"]] = {key: meta[key] for key in ("sha256", "size", "depends", "published", "file") if key in meta}
    for name, entry in components.items():
        latest = max(entry["versions"], key=lambda text: Version.parse(text).key())
        meta = read_json(folder / PACKAGES_FOLDER / name / latest / META_NAME, schema="registry-meta")
        entry.update({"latest": latest, "kind": meta.get("kind", "solution"), "description": meta.get("description", ""),
                      "keywords": meta.get("keywords", [])})
    return {"format": REGISTRY_FORMAT, "components": dict(sorted(components.items()))}


def publish(package: str | Path, registry: str | None = None) -> dict:
    """Publish a package (``.reef.zip``) as NAME@VERSION in a registry.

    The package is checked as ``reef import`` checks it and its manifest validated. A version
    already published with the same bytes is left as it is (``published`` False); with other
    bytes it is refused: versions are immutable.
    """
    from .exceptions import ManifestError
    from .manifest import load_solution
    from .package import PackageError, import_package, is_package

    package = Path(package)
    if not is_package(package):
        raise PackageError(f"{package}: not a package file (.reef.zip): make one with `reef export`")
    name = _one(registry)
    content = package.read_bytes()
    with tempfile.TemporaryDirectory(prefix="reef-publish-") as scratch:
        try:
            solution = load_solution(import_package(package, Path(scratch) / "solution"))
        except ManifestError as error:  # name the package, not the scratch folder
            raise ManifestError([problem.replace(str(Path(scratch) / "solution"), f"{package}!") for problem in error.problems]) from None
    data = solution.data
    digest = hashlib.sha256(content).hexdigest()
    file_name = f"{data['name']}-{data['version']}.reef.zip"
    meta = {
        "name": data["name"], "version": data["version"], "kind": data.get("kind", "solution"),
        "description": data.get("description", ""), "keywords": data.get("keywords", []), "license": data.get("license"),
        "authors": [author.get("name") for author in data.get("authors", []) if author.get("name")],
        "depends": data.get("components", {}), "sha256": digest, "size": len(content), "file": file_name, "published": _now(),
    }
    identity = f"{data['name']}@{data['version']}"

    def apply(folder: Path) -> tuple[list[str], dict]:
        version_folder = folder / PACKAGES_FOLDER / data["name"] / data["version"]
        if (version_folder / META_NAME).is_file():
            existing = read_json(version_folder / META_NAME, schema="registry-meta")
            if existing.get("sha256") != digest:
                raise RegistryError(f"{package}: {identity} is already published in registry {name} with other bytes "
                                    f"(sha256 {existing.get('sha256', '?')[:12]}, this package {digest[:12]}): versions are "
                                    "immutable; publish it as a new version")
            return [], existing
        version_folder.mkdir(parents=True, exist_ok=True)
        (version_folder / file_name).write_bytes(content)
        write_json_object(version_folder / META_NAME, meta)
        write_json_object(folder / INDEX_NAME, _build_index(folder))
        return [INDEX_NAME, str(version_folder.relative_to(folder))], meta

    entry, pushed = _change(name, apply, f"publish {identity}")
    return {"registry": name, "name": data["name"], "version": data["version"], "sha256": digest, "size": len(content),
            "published": pushed, "kind": entry.get("kind", "solution")}


def search(text: str = "", registry: str | None = None) -> list[dict]:
    """Components whose name, kind, description or keywords contain ``text`` (every word of it), in every registry."""
    words = text.lower().split()
    found = []
    for name, folder in _refreshed(_chosen(registry)).items():
        for component, entry in _read_index(folder).get("components", {}).items():
            haystack = " ".join([component, entry.get("kind", ""), entry.get("description", ""), *entry.get("keywords", [])]).lower()
            if all(word in haystack for word in words):
                versions = sorted(entry["versions"], key=lambda version: Version.parse(version).key())
                found.append({"registry": name, "name": component, "kind": entry.get("kind", "solution"),
                              "latest": entry.get("latest"), "versions": versions, "description": entry.get("description", "")})
    return found


def pull(spec: str, registry: str | None = None, target: str | Path | None = None, dry_run: bool = False,
         dependencies: bool = True) -> dict:
    """Fetch ``NAME``, ``NAME@VERSION`` or ``NAME@RANGE`` and every component it needs, verified, and import them.

    Versions are resolved first (the highest that satisfies every range; a conflict or a cycle is
    an error and nothing is fetched). Each package's sha256 must match the registry's ``meta.json``
    and its index, then it is imported with ``reef import``'s checks into
    ``$REEF_HOME/solutions/NAME-VERSION`` (the same package there is reused); ``target`` puts the
    requested one there instead. With ``dry_run`` only the resolution happens; without
    ``dependencies`` only the requested component is fetched (all are still resolved).
    """
    component, range_text = split_spec(spec)
    folders = _refreshed(_chosen(registry))
    published: dict[str, dict[str, dict]] = {}
    for name, folder in folders.items():  # the first registry (by name) that has a version wins
        for entry_name, entry in _read_index(folder).get("components", {}).items():
            for version, details in entry.get("versions", {}).items():
                published.setdefault(entry_name, {}).setdefault(version, {**details, "registry": name})
    chosen = resolve(component, range_text, lambda name: published.get(name, {}))
    components = [{"name": name, "version": version, "registry": published[name][version]["registry"],
                   "sha256": published[name][version]["sha256"]} for name, version in chosen.items()]
    if not dry_run:
        for entry in components if dependencies else components[:1]:
            package = _verified_package(folders[entry["registry"]], entry)
            entry["folder"] = str(_imported(package, target if entry["name"] == component else None))
    root = components[0]
    return {"name": root["name"], "version": root["version"], "folder": root.get("folder"), "components": components}


def _verified_package(folder: Path, entry: dict) -> Path:
    """The package's bytes checked against the registry's sha256, copied to ``$REEF_HOME/cache/packages``."""
    identity = f"{entry['name']}@{entry['version']}"
    version_folder = folder / PACKAGES_FOLDER / entry["name"] / entry["version"]
    try:
        meta = read_json(version_folder / META_NAME, schema="registry-meta")
        content = (version_folder / meta["file"]).read_bytes()
    except (OSError, ValueError, KeyError) as error:
        raise RegistryError(f"registry {entry['registry']}: {identity}: its package or meta.json is missing or unreadable: {error}") from None
    digest = hashlib.sha256(content).hexdigest()
    if not digest == meta.get("sha256") == entry["sha256"]:
        raise RegistryError(f"registry {entry['registry']}: {PACKAGES_FOLDER}/{entry['name']}/{entry['version']}/{meta['file']}: "
                            f"sha256 {digest[:12]} does not match the published {entry['sha256'][:12]}: refusing a tampered package")
    cached = reef_home() / "cache" / "packages" / f"{digest}.reef.zip"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, cached)
    return cached


def _imported(package: Path, target: str | Path | None) -> Path:
    from .package import import_package, resolve_source

    if target is not None:
        return import_package(package, target)
    return Path(resolve_source(package))


def component_folder(name: str, range_text: str = "") -> Path:
    """The folder of the highest pulled version of component ``name`` in ``range_text`` (for notebooks that use it)."""
    from .package import solutions_home

    prefix = f"{name}-"
    versions = [folder.name[len(prefix):] for folder in solutions_home().glob(f"{name}-*") if folder.is_dir()]
    best = Range.parse(range_text).best(versions)
    if best is None:
        raise RegistryError(f"{name}@{range_text or '*'}: not pulled here (pulled: {', '.join(sorted(versions)) or 'none'}): "
                            f"`reef pull {name}@{range_text or '*'}`")
    return solutions_home() / f"{name}-{best}"


def is_spec(source: str) -> bool:
    """Whether ``source`` reads as NAME[@RANGE] rather than a path (for ``reef init NAME@RANGE``)."""
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}(@[^/\\]*)?", source)) and not Path(source).exists()


# --- crowd results --------------------------------------------------------------------------------


def contributor(identify: bool = False) -> str:
    """``USER@HOST`` with ``identify``, else this machine's anonymous id (random, kept in ``$REEF_HOME/contributor.json``)."""
    if identify:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    path = reef_home() / "contributor.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["id"]
    except (OSError, ValueError, KeyError):
        identity = f"anon-{secrets.token_hex(6)}"
        write_json_object(path, {"id": identity})
        return identity


def shareable_record(record: dict, identify: bool = False) -> dict:
    """A run record as shared: no paths, and no user or host name unless ``identify``; ``origin`` says whose."""
    from .package import clean_record

    hostname = (record.get("environment") or {}).get("hostname")
    shared = clean_record(record)
    shared["solution"]["path"] = "."  # the schema wants one; the sharer's own folder is nobody's business
    if identify:
        if hostname:
            shared["environment"]["hostname"] = hostname
    else:
        text = json.dumps(shared).replace(json.dumps(str(Path.home()))[1:-1], "~")
        for secret, placeholder in ((socket.gethostname(), "<host>"), (hostname, "<host>"), (getpass.getuser(), "<user>")):
            if secret and len(secret) > 2:
                text = re.sub(rf"(?<![\w-]){re.escape(json.dumps(secret)[1:-1])}(?![\w-])", placeholder, text)
        shared = json.loads(text)
    shared["origin"] = {"contributor": contributor(identify), "identified": identify, "shared": _now()}
    return shared


def push_results(solution: str | None = None, registry: str | None = None, identify: bool = False, store: Any = None) -> dict:
    """Share this machine's run records (of one solution, or all) as ``results/SOLUTION/RUN_ID.json`` files.

    Records pulled from others are not pushed again; a run already shared is left as it is.
    """
    from .store import default_store

    name = _one(registry)
    store = store or default_store()
    records = [shareable_record(record, identify) for record in store.records(solution=solution) if "origin" not in record]
    who = contributor(identify)

    def apply(folder: Path) -> tuple[list[str], dict]:
        written = []
        for record in records:
            relative = f"{RESULTS_FOLDER}/{record['solution']['name']}/{record['run_id']}.json"
            if not (folder / relative).is_file():
                write_json_object(folder / relative, record)
                written.append(relative)
        return written, {"pushed": len(written), "already": len(records) - len(written)}

    counts, _ = _change(name, apply, f"results: {len(records)} runs from {who}", anonymous=None if identify else who)
    return {"registry": name, "contributor": who, **counts}


def pull_results(solution: str | None = None, registry: str | None = None, store: Any = None) -> dict:
    """Merge the run records shared in the registries into the local store (run ids already here are kept as they are)."""
    import jsonschema

    from .manifest import schema
    from .store import default_store

    store = store or default_store()
    validator = jsonschema.Draft202012Validator(schema("run-record"))
    records, refused = [], []
    for name, folder in _refreshed(_chosen(registry)).items():
        pattern = f"{solution}/*.json" if solution else "*/*.json"
        for path in sorted((folder / RESULTS_FOLDER).glob(pattern)):
            relative = path.relative_to(folder).as_posix()
            try:
                record = read_json(path, expect=dict)
                error = next(iter(validator.iter_errors(record)), None)
            except (InputError, ValueError) as problem:
                record, error = None, problem
            if error is not None or "origin" not in record or path.stem != record.get("run_id"):
                reason = getattr(error, "message", None) or str(error or "no origin, or a file name other than its run id")
                log.warning("registry %s: %s: not a shared run record (%s); skipped", name, relative, reason)
                refused.append(relative)
                continue
            record["origin"]["registry"] = name
            records.append(record)
    new = store.merge(records)
    return {"records": len(records), "new": new, "refused": refused}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

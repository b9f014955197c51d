"""Where a run's code came from: git remote, commit, branch and dirty flag (GitPython)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def git_provenance(path: str | Path) -> dict | None:
    """Git facts of the repository holding ``path``, or None when it is not in one."""
    if not _maybe_in_repository(Path(path)):
        return None  # without importing GitPython (0.1-0.2 s of every run outside a repository)
    try:
        import git
    except ImportError:  # git executable missing: GitPython refuses to import
        log.warning("git not available: provenance left out")
        return None
    try:
        repo = git.Repo(Path(path).resolve(), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    try:
        with repo:
            try:
                commit = repo.head.commit.hexsha
            except ValueError:  # no commit yet
                commit = None
            branch = None if repo.head.is_detached else repo.active_branch.name
            remote = None
            if repo.remotes:
                chosen = repo.remotes["origin"] if "origin" in [r.name for r in repo.remotes] else repo.remotes[0]
                remote = strip_credentials(next(iter(chosen.urls), None))
            relative = Path(path).resolve().relative_to(Path(repo.working_tree_dir).resolve())
            scope = None if str(relative) == "." else str(relative)
            dirty = repo.is_dirty(untracked_files=True, path=scope)
            return {"remote": remote, "commit": commit, "branch": branch, "dirty": dirty}
    except git.GitError as error:
        log.warning("git provenance of %s failed: %s", path, error)
        return None


def _maybe_in_repository(path: Path) -> bool:
    """Whether ``path`` or a folder above it holds ``.git`` (a folder, or a worktree's file), or git is told
    where the repository is (``GIT_DIR``): False is certain, True is for GitPython to confirm."""
    if os.environ.get("GIT_DIR"):
        return True
    folder = path.resolve()
    return any((candidate / ".git").exists() for candidate in (folder, *folder.parents))


def strip_credentials(url: str | None) -> str | None:
    """A remote URL without any user:token@ part, so records never carry secrets."""
    return _CREDENTIALS.sub("", url) if url else url

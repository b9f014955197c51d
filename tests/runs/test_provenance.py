"""Where a run's code came from (reefnb.runs.provenance), read from real git repositories made in ``tmp_path``."""

from __future__ import annotations

import subprocess

import pytest

from reefnb.runs.provenance import git_provenance, strip_credentials


def git(folder, *arguments: str) -> str:
    command = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"]
    return subprocess.run([*command, *arguments], cwd=folder, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A repository with one commit, its solution in ``solution/`` and a remote whose URL carries a token."""
    monkeypatch.delenv("GIT_DIR", raising=False)
    root = tmp_path / "repository"
    (root / "solution").mkdir(parents=True)
    (root / "solution" / "main.ipynb").write_text("{}", encoding="utf-8")
    (root / "other.txt").write_text("other", encoding="utf-8")
    git(root, "init", "-q")
    git(root, "remote", "add", "origin", "https://user:s3cret@example.com/team/solution.git")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


@pytest.mark.parametrize(
    ("url", "stripped"),
    [
        ("https://user:token@example.com/a.git", "https://example.com/a.git"),
        ("https://token@example.com/a.git", "https://example.com/a.git"),
        ("git@example.com:team/a.git", "git@example.com:team/a.git"),  # scp-style: a user name, not a secret
        ("https://example.com/a.git", "https://example.com/a.git"),
        (None, None),
    ],
)
def test_credentials_are_stripped_from_remote_urls(url, stripped):
    assert strip_credentials(url) == stripped


def test_a_folder_outside_any_repository_has_no_provenance(tmp_path, monkeypatch):
    monkeypatch.delenv("GIT_DIR", raising=False)
    assert git_provenance(tmp_path) is None


def test_a_clean_repository_gives_commit_branch_and_remote_without_the_token(repository):
    facts = git_provenance(repository / "solution")
    assert facts == {
        "remote": "https://example.com/team/solution.git",
        "commit": git(repository, "rev-parse", "HEAD").strip(),
        "branch": "main",
        "dirty": False,
    }


def test_dirty_counts_only_changes_inside_the_solution_folder(repository):
    (repository / "other.txt").write_text("changed elsewhere", encoding="utf-8")
    assert git_provenance(repository / "solution")["dirty"] is False
    assert git_provenance(repository)["dirty"] is True
    (repository / "solution" / "new.csv").write_text("a\n1\n", encoding="utf-8")  # untracked counts
    assert git_provenance(repository / "solution")["dirty"] is True


def test_a_detached_head_has_no_branch_and_a_repository_without_commits_no_commit(repository, tmp_path):
    git(repository, "checkout", "-q", "--detach")
    assert git_provenance(repository)["branch"] is None
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert git_provenance(empty) == {"remote": None, "commit": None, "branch": "main", "dirty": False}

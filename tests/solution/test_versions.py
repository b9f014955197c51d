"""Semantic versions, npm-style ranges and dependency resolution (reefnb.solution.versions); no git, no registry."""

from __future__ import annotations

import pytest

from reefnb.solution.versions import ConflictError, CycleError, Range, Version, VersionError, resolve, split_spec


@pytest.mark.parametrize(
    "text, inside, outside",
    [
        ("1.2.3", ["1.2.3"], ["1.2.4", "1.2.3-rc.1"]),
        ("=1.2.3", ["1.2.3"], ["1.2.2"]),
        ("^1.2.3", ["1.2.3", "1.9.9"], ["1.2.2", "2.0.0", "2.0.0-rc.1"]),
        ("^1.2", ["1.2.0", "1.99.0"], ["1.1.9", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0"]),
        ("~1.2", ["1.2.0"], ["1.3.0"]),
        ("~1", ["1.9.0"], ["2.0.0"]),
        ("1.x", ["1.0.0", "1.5.2"], ["2.0.0", "0.9.0"]),
        ("1.2", ["1.2.7"], ["1.3.0"]),
        (">=1,<2", ["1.0.0", "1.99.99"], ["0.9.9", "2.0.0"]),
        (">=1.0 <2", ["1.5.0"], ["2.0.0"]),
        (">1", ["2.0.0"], ["1.9.9"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        ("^1 || ^3", ["1.0.0", "3.1.0"], ["2.0.0"]),
        ("*", ["0.0.1", "9.9.9"], ["2.0.0-beta"]),
        ("", ["1.0.0"], []),
        (">=2.0.0-rc.1", ["2.0.0-rc.2", "2.0.0", "2.1.0"], ["2.0.0-beta", "2.0.0-rc.0"]),
    ],
)
def test_range_matching(text, inside, outside):
    parsed = Range.parse(text)
    assert all(parsed.matches(version) for version in inside)
    assert not any(parsed.matches(version) for version in outside)


@pytest.mark.parametrize("text", ["foo", "1.2.3.4", ">=", "^1.x.3", "1 >"])
def test_bad_ranges_are_refused(text):
    with pytest.raises(VersionError, match="not a version range"):
        Range.parse(text)


def test_best_version_and_specs():
    assert Range.parse("^1.2").best(["1.1.0", "1.2.0", "1.10.0", "2.0.0", "1.11.0-rc.1"]) == "1.10.0"
    assert Range.parse("^3").best(["1.0.0"]) is None
    assert split_spec("coco-mini@^1.2") == ("coco-mini", "^1.2")
    assert split_spec("coco-mini") == ("coco-mini", "")
    with pytest.raises(VersionError, match="expected NAME"):
        split_spec("Bad Name@1")


def graph(edges: dict[str, dict[str, dict]]):
    return lambda name: edges.get(name, {})


def test_resolution_takes_the_highest_version_that_satisfies_every_range():
    published = {
        "app": {"1.0.0": {"depends": {"data": "^1", "model": "~2.1"}}},
        "model": {"2.1.0": {"depends": {"data": ">=1.1"}}, "2.1.5": {"depends": {"data": ">=1.2,<1.4"}}, "2.2.0": {}},
        "data": {"1.0.0": {}, "1.2.0": {}, "1.3.1": {}, "1.5.0": {}, "2.0.0": {}},
    }
    assert resolve("app", "", graph(published)) == {"app": "1.0.0", "data": "1.3.1", "model": "2.1.5"}


def test_resolution_conflict_names_who_asks_for_what():
    published = {
        "app": {"1.0.0": {"depends": {"data": "^1", "model": "*"}}},
        "model": {"1.0.0": {"depends": {"data": "^2"}}},
        "data": {"1.4.0": {}, "2.0.0": {}},
    }
    with pytest.raises(ConflictError) as caught:
        resolve("app", "", graph(published))
    message = str(caught.value)
    assert (
        "version conflict on data" in message and "app@1.0.0 needs ^1" in message and "model@1.0.0 needs ^2" in message
    )
    assert "published: 1.4.0, 2.0.0" in message
    with pytest.raises(ConflictError, match=r"app@\^2: no published version matches \(published: 1.0.0\)"):
        resolve("app", "^2", graph(published))
    with pytest.raises(VersionError, match="ghost: no such component in the registries \\(needed by app@1.0.0\\)"):
        resolve("app", "", graph({"app": {"1.0.0": {"depends": {"ghost": "*"}}}}))


def test_resolution_reports_a_cycle():
    published = {
        "a": {"1.0.0": {"depends": {"b": "^1"}}},
        "b": {"1.0.0": {"depends": {"c": "^1"}}},
        "c": {"1.0.0": {"depends": {"a": "^1"}}},
    }
    with pytest.raises(CycleError, match=r"dependency cycle: a@1.0.0 -> b@1.0.0 -> c@1.0.0 -> a@1.0.0"):
        resolve("a", "", graph(published))


def test_versions_sort_as_semver_says_and_build_metadata_is_ignored():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.2.0"]
    parsed = [Version.parse(text) for text in ordered]
    assert sorted(reversed(parsed), key=Version.key) == parsed
    assert all(earlier < later for earlier, later in zip(parsed, parsed[1:], strict=False))
    assert Version.parse("1.2.3+build.7").key() == Version.parse("1.2.3").key()
    assert str(Version.parse(" 2.0.0-rc.1 ")) == "2.0.0-rc.1"


@pytest.mark.parametrize("text", ["1.2", "01.2.3", "1.2.3.4", "v1.2.3", "latest"])
def test_what_is_not_a_full_semantic_version_is_refused(text):
    with pytest.raises(VersionError, match="is not a semantic version"):
        Version.parse(text)


def test_a_range_reads_back_as_its_text_and_no_text_means_any():
    assert str(Range.parse("^1.2 || 3.x")) == "^1.2 || 3.x"
    assert str(Range.parse("")) == "*"
    assert Range.parse("").best(["0.1.0", "not-a-version", "2.0.0-rc.1", "1.5.0"]) == "1.5.0"

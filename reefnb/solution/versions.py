"""Semantic versions, version ranges and dependency resolution for published components.

Ranges follow npm's syntax, the one most people already know:

- ``1.2.3`` or ``=1.2.3``: exactly that version;
- ``^1.2.3``: compatible with it (``>=1.2.3 <2.0.0``; ``^0.2.3`` is ``>=0.2.3 <0.3.0``, ``^0.0.3`` exactly 0.0.3);
- ``~1.2.3``: patch updates (``>=1.2.3 <1.3.0``); ``~1`` is ``>=1.0.0 <2.0.0``;
- ``1.2``, ``1.2.x``, ``1.x``, ``1``: any version with that prefix; ``*``, ``x``, ``latest`` or nothing: any;
- comparators ``>=1.0 <2``, also comma-separated (``>=1,<2``): all must hold;
- ``A || B``: either. Missing parts count as zero (``>=1.2`` is ``>=1.2.0``).

Pre-releases (``2.0.0-rc.1``) match only a range that names a pre-release of the same
``MAJOR.MINOR.PATCH``, as in npm.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from reefnb.common.exceptions import ConflictError, CycleError, VersionError

_VERSION = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_PARTIAL = re.compile(r"v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")
_COMPARATOR = re.compile(r"(>=|<=|>|<|=|\^|~)?\s*([^\s<>=^~]+)")
ANY = ("", "*", "x", "X", "latest")


@dataclass(frozen=True, order=False)
class Version:
    """A semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]); build metadata is ignored in comparisons."""

    major: int
    minor: int
    patch: int
    prerelease: tuple = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.fullmatch(text.strip())
        if not match:
            raise VersionError(f"'{text}' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)")
        major, minor, patch, prerelease = match.groups()
        return cls(int(major), int(minor), int(patch), tuple(prerelease.split(".")) if prerelease else ())

    def key(self) -> tuple:
        # A release sorts after its pre-releases; numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}" + (f"-{'.'.join(self.prerelease)}" if self.prerelease else "")


@dataclass(frozen=True)
class Range:
    """A parsed range: alternatives (``||``), each a list of (operator, version) that must all hold."""

    text: str
    alternatives: tuple

    @classmethod
    def parse(cls, text: str) -> Range:
        text = (text or "").strip()
        alternatives = []
        for alternative in text.split("||"):
            comparators: list[tuple[str, Version]] = []
            alternative = alternative.replace(",", " ")
            if _COMPARATOR.sub("", alternative).strip():
                raise VersionError(f"'{text}' is not a version range (e.g. 1.2.3, ^1.2, ~1.2, 1.x, >=1,<2, ^1 || ^2)")
            for operator, operand in _COMPARATOR.findall(alternative):
                comparators += _expand(operator, operand, text)
            alternatives.append(tuple(comparators))
        return cls(text, tuple(alternatives))

    def matches(self, version: Version | str) -> bool:
        version = Version.parse(version) if isinstance(version, str) else version
        return any(self._holds(comparators, version) for comparators in self.alternatives)

    @staticmethod
    def _holds(comparators: tuple, version: Version) -> bool:
        if version.prerelease and not any(
            bound.prerelease and bound.key()[:3] == version.key()[:3] for _, bound in comparators
        ):
            return False
        tests: dict[str, Callable[[Version, Version], bool]] = {
            ">=": lambda a, b: b <= a,
            ">": lambda a, b: b < a,
            "<=": lambda a, b: a <= b,
            "<": lambda a, b: a < b,
            "=": lambda a, b: a.key() == b.key(),
        }
        return all(tests[operator](version, bound) for operator, bound in comparators)

    def best(self, versions) -> str | None:
        """The highest of ``versions`` (strings) in this range, or None."""
        found = [Version.parse(text) for text in versions if _is_version(text) and self.matches(text)]
        return str(max(found, key=Version.key)) if found else None

    def __str__(self) -> str:
        return self.text or "*"


def _is_version(text: str) -> bool:
    return bool(_VERSION.fullmatch(text))


def _expand(operator: str, operand: str, text: str) -> list[tuple[str, Version]]:
    """One comparator as plain (operator, version) bounds."""
    if operand in ANY and operator in ("", "="):
        return []
    match = _PARTIAL.fullmatch(operand)
    if not match:
        raise VersionError(
            f"'{text}' is not a version range (e.g. 1.2.3, ^1.2, ~1.2, 1.x, >=1,<2, ^1 || ^2): bad part '{operand}'"
        )
    parts = [None if part is None or part in "xX*" else int(part) for part in match.groups()[:3]]
    prerelease = tuple(match.group(4).split(".")) if match.group(4) else ()
    known = 0
    while known < 3 and parts[known] is not None:
        known += 1
    if any(part is not None for part in parts[known:]):
        raise VersionError(f"'{text}' is not a version range: '{operand}' has a number after a wildcard")
    low = Version(*(part or 0 for part in parts), prerelease if known == 3 else ())
    if operator in ("", "=") and known == 3:
        return [("=", low)]
    if operator == "^" or (operator in ("", "=") and known < 3) or (operator == "~" and known < 2):
        if operator == "^" and known >= 1:
            position = next((index for index, part in enumerate(parts[:known]) if part), known - 1)
        else:
            position = known - 1
        if position < 0:
            return [(">=", low)] if low.key() != Version(0, 0, 0).key() else []
        return [(">=", low), ("<", _bump(low, position))]
    if operator == "~":
        return [(">=", low), ("<", _bump(low, 1))]
    if known < 3 and operator in (">", "<="):  # >1 means >=2.0.0; <=1.2 means <1.3.0
        return [(">=" if operator == ">" else "<", _bump(low, known - 1))]
    return [(operator, low)]


def _bump(version: Version, position: int) -> Version:
    numbers = [version.major, version.minor, version.patch]
    numbers[position] += 1
    for index in range(position + 1, 3):
        numbers[index] = 0
    return Version(*numbers, ("0",))  # below every release and pre-release of the bumped version


def split_spec(spec: str) -> tuple[str, str]:
    """``NAME``, ``NAME@VERSION`` or ``NAME@RANGE`` as (name, range text); a range may be empty."""
    name, _, range_text = spec.partition("@")
    name = name.strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}", name):
        raise VersionError(
            f"'{spec}': expected NAME, NAME@VERSION or NAME@RANGE (a name is lower-case letters, digits, '.', '_', '-')"
        )
    Range.parse(range_text)
    return name, range_text.strip()


def resolve(
    root: str, root_range: str, versions_of: Callable[[str], dict[str, dict]], max_rounds: int = 50
) -> dict[str, str]:
    """Choose one version of ``root`` and of every component it needs, transitively.

    ``versions_of(name)`` returns the published versions of a component: version -> entry, an entry's
    ``depends`` mapping component names to ranges. Each component gets the highest version that
    satisfies every range that asks for it; ConflictError when none does, CycleError when the
    chosen versions depend on each other in a circle. Returns name -> version, root first.
    """
    chosen: dict[str, str] = {}
    for _ in range(max_rounds):
        wanted = _constraints(root, root_range, chosen, versions_of)
        settled: dict[str, str] = {}
        for name, asks in wanted.items():
            published = versions_of(name)
            candidates = [
                version
                for version in published
                if _is_version(version) and all(Range.parse(text).matches(version) for text, _ in asks)
            ]
            if not candidates:
                raise ConflictError(_conflict_message(name, asks, published))
            settled[name] = str(max(map(Version.parse, candidates), key=Version.key))
        if settled == chosen:
            _check_cycles(root, chosen, versions_of)
            return chosen
        chosen = settled
    raise VersionError(f"{root}@{root_range or '*'}: the dependency versions do not settle after {max_rounds} rounds")


def _constraints(root: str, root_range: str, chosen: dict[str, str], versions_of) -> dict[str, list[tuple[str, str]]]:
    """Every range asking for each component reachable from the root, with who asks (name@version)."""
    wanted: dict[str, list[tuple[str, str]]] = {root: [(root_range, "you")]}
    queue, seen = [root], set()
    while queue:
        name = queue.pop(0)
        published = versions_of(name)
        if not published:
            asker = wanted[name][0][1]
            raise VersionError(
                f"{name}: no such component in the registries" + ("" if asker == "you" else f" (needed by {asker})")
            )
        version = (
            chosen.get(name)
            or Range.parse(wanted[name][0][0]).best(published)
            or max((v for v in published if _is_version(v)), key=lambda v: Version.parse(v).key())
        )
        if (name, version) in seen:
            continue
        seen.add((name, version))
        for dependency, text in sorted((published.get(version) or {}).get("depends", {}).items()):
            wanted.setdefault(dependency, []).append((text, f"{name}@{version}"))
            queue.append(dependency)
    return wanted


def _conflict_message(name: str, asks: list[tuple[str, str]], published: dict) -> str:
    listed = ", ".join(sorted(published, key=lambda v: Version.parse(v).key() if _is_version(v) else (0,))) or "none"
    if [asker for _, asker in asks] == ["you"]:
        return f"{name}@{asks[0][0] or '*'}: no published version matches (published: {listed})"
    who = ", ".join(f"{asker} needs {text or '*'}" for text, asker in asks)
    return f"version conflict on {name}: {who}; no published version satisfies all of them (published: {listed})"


def _check_cycles(root: str, chosen: dict[str, str], versions_of) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dependency in sorted((versions_of(name).get(chosen[name]) or {}).get("depends", {})):
            if state.get(dependency) == 1:
                circle = path[path.index(dependency) :] + [dependency]
                raise CycleError("dependency cycle: " + " -> ".join(f"{item}@{chosen[item]}" for item in circle))
            if dependency not in state:
                visit(dependency)
        path.pop()
        state[name] = 2

    visit(root)

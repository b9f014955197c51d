"""A solution's ``requires`` checked against what is known of a target (reefnb.provision.requirements): facts given
by the test, so every status is reached whatever this machine has."""

from __future__ import annotations

import pytest

from reefnb.common.exceptions import ReefError
from reefnb.provision.requirements import (
    CONFLICT,
    FOUND,
    GIB,
    MISSING,
    SKIPPED,
    UNMET,
    Facts,
    check_requirements,
    hash_key,
    hash_lines,
    summary,
    untrusted_pins,
)

DIGEST = "sha256:" + "a" * 64


def facts(**overrides) -> Facts:
    tools = {"gcc": {"name": "gcc", "path": "/usr/bin/gcc", "version": "12.2.0"}}
    known = {
        "python_version": "3.11.7",
        "packages": {"numpy": "1.26.4", "pandas": "2.2.0", "typing-extensions": "4.9.0"},
        "find_tool": tools.get,
        "memory_bytes": 16 * GIB,
        "cpu_cores": 8,
        "cpu_flags": frozenset({"avx2", "sse4_2"}),
        "gpus": ({"name": "A100", "vendor": "NVIDIA", "memory_bytes": 40 * GIB, "compute_capability": "8.0"},),
        "system": "linux",
        "machine": "x86_64",
    }
    return Facts(**{**known, **overrides})


def statuses(requires: dict, **overrides) -> list[tuple[str, str]]:
    return [(check.name, check.status) for check in check_requirements(requires, facts(**overrides))]


def test_packages_are_found_missing_in_conflict_or_skipped_by_their_marker():
    requires = {
        "packages": [
            "numpy>=1.24",
            "Pandas<2",
            "Typing_Extensions",
            "torch",
            "pywin32; sys_platform == 'win32'",
            "tomli; python_version < '3.11'",
        ]
    }
    assert statuses(requires) == [
        ("numpy", FOUND),
        ("Pandas", CONFLICT),
        ("Typing_Extensions", FOUND),  # names compared in canonical form
        ("torch", MISSING),
        ("pywin32", SKIPPED),
        ("tomli", SKIPPED),  # the target's python, not this one, decides
    ]
    assert statuses({"packages": ["tomli; python_version < '3.11'"]}, python_version="3.10.4") == [("tomli", MISSING)]
    checks = check_requirements(requires, facts())
    assert [check.installable for check in checks] == [False, True, False, True, False, False]
    assert checks[1].reason == "2.2.0 is installed" and checks[3].as_dict()["reason"] == "not installed"


def test_python_platforms_and_tools_are_met_or_say_why_not():
    [python] = check_requirements({"python": ">=3.12"}, facts())
    assert (python.status, python.found) == (UNMET, "3.11.7") and "no interpreter matching >=3.12" in python.reason
    assert statuses({"python": ">=3.10,<3.13", "platforms": ["Linux-x86_64"]}) == [
        ("python", FOUND),
        ("platform", FOUND),
    ]
    assert statuses({"platforms": ["macos"]}, system="darwin", machine="arm64") == [("platform", FOUND)]
    assert statuses({"platforms": ["windows"]}) == [("platform", UNMET)]
    tools = {"tools": [{"name": "gcc", "version": ">=9"}, {"name": "gcc", "version": ">=13"}, {"name": "cmake"}]}
    checks = check_requirements({**tools, "tools": [*tools["tools"], {"name": "frob"}]}, facts())
    assert [check.status for check in checks] == [FOUND, UNMET, UNMET, UNMET]
    assert checks[1].reason == "/usr/bin/gcc is version 12.2.0; >=13 is needed"
    assert "not on PATH" in checks[2].reason and "reef knows no tool 'frob'" in checks[3].reason


def test_hardware_memory_cores_flags_and_gpus():
    hardware = {
        "memory_gb": 8,
        "cpu_cores": 16,
        "cpu_flags": ["AVX2", "avx512f"],
        "gpu": {"vendor": "nvidia", "memory_gb": 24, "compute_capability": "7.0"},
    }
    assert statuses({"hardware": hardware}) == [
        ("memory", FOUND),
        ("cpu cores", UNMET),
        ("cpu flag AVX2", FOUND),
        ("cpu flag avx512f", UNMET),
        ("gpu", FOUND),
    ]
    [gpu] = check_requirements({"hardware": {"gpu": {"count": 2}}}, facts())
    assert gpu.status == UNMET and gpu.reason == "1 of 2 GPUs fit; found: A100"
    [gpu] = check_requirements({"hardware": {"gpu": {"compute_capability": "9.0"}}}, facts())
    assert gpu.status == UNMET
    [none] = check_requirements({"hardware": {"gpu": {}}}, facts(gpus=()))
    assert "no GPU found" in none.reason
    [memory] = check_requirements({"hardware": {"memory_gb": 1}}, facts(memory_bytes=None))
    assert (memory.status, memory.found) == (UNMET, "unknown")


def test_the_summary_counts_statuses_and_only_unmet_makes_it_unsatisfiable():
    checks = check_requirements({"packages": ["numpy", "torch", "pandas<2"]}, facts())
    assert summary(checks) == {"counts": {FOUND: 1, MISSING: 1, CONFLICT: 1}, "satisfiable": True}
    checks += check_requirements({"python": ">=4"}, facts())
    assert summary(checks)["satisfiable"] is False
    assert summary([]) == {"counts": {}, "satisfiable": True}


def where(text: str) -> str:
    return f"pkg/solution.json: /requires/packages/{text}"


def test_an_untrusted_package_s_requirements_are_pinned_hashed_lines_rebuilt_from_their_parts():
    hashes = {hash_key("Typing_Extensions", "4.9.0"): [DIGEST], "numpy==1.26.4": [DIGEST]}
    assert hash_key("Typing_Extensions", "4.9.0") == "typing-extensions==4.9.0"
    lines = untrusted_pins(["Typing_Extensions==4.9.0", "numpy[extra]==1.26.4;python_version>'3'"], hashes, where)
    assert lines == ["typing-extensions==4.9.0", 'numpy[extra]==1.26.4 ; python_version > "3"']


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("numpy>=1.26", "is not pinned to one version (==)"),
        ("numpy==1.*", "is not pinned to one version (==)"),
        ("numpy==1.26.5", "has no sha256 for numpy==1.26.5"),
        ("numpy @ https://example.org/numpy.whl", "is a direct reference"),
        ("numpy --index-url=https://evil", "is not a PEP 508 requirement"),
    ],
)
def test_anything_else_from_an_untrusted_package_is_refused_naming_where_and_trust(text, words):
    with pytest.raises(ReefError) as refused:
        untrusted_pins([text], {"numpy==1.26.4": [DIGEST]}, where)
    message = str(refused.value)
    assert message.startswith(where(text)) and words in message and message.endswith("pass --trust to allow it")


def test_a_lock_s_hashes_become_installer_lines_and_malformed_entries_are_left_out():
    hashes = {
        "numpy==1.26.4": [DIGEST, "md5:abc"],
        "pandas==2.2.0": ["sha256:short"],
        "Bad Name==1.0": [DIGEST],
        "scipy==not-a-version": [DIGEST],
        "six==1.16.0": "not a list",
    }
    assert hash_lines(hashes) == [f"numpy==1.26.4 --hash={DIGEST}"]
    assert hash_lines([]) == []

"""A package's README (reefnb.sharing.readme): the solution's own text, then its claims and how to check them."""

from __future__ import annotations

from reefnb.sharing.readme import package_readme

MARKER = "## Claims and how to check them"
DATA = {
    "name": "detector",
    "version": "1.2.0",
    "description": "Detects things.",
    "profiles": {
        "quick": {"description": "a small subset", "expected_minutes": 2},
        "full": {"description": "everything", "expected_minutes": 90, "hardware": "one GPU"},
    },
    "expected": [
        {
            "id": "small",
            "workflow": "evaluate",
            "parameters": {"images": 50},
            "profiles": ["quick", "full"],
            "metrics": {
                "accuracy": {"value": 0.9, "tolerance": {"abs": 0.01}},
                "time_ms": {"value": 4, "tolerance": {"informational": True}},
            },
        }
    ],
    "claims": [{"id": "C1", "statement": "It is accurate", "where": "Table 2", "expected": ["small"]}],
}


def test_without_a_readme_it_starts_with_the_name_version_and_description():
    text = package_readme(DATA, "")
    assert text.startswith("# detector 1.2.0\n\nDetects things.\n\n" + MARKER + "\n")
    assert "`reef reproduce detector-1.2.0.reef.zip --trust`" in text and text.endswith("\n")


def test_each_profile_is_a_command_with_its_time_and_hardware():
    lines = package_readme(DATA, "").splitlines()
    assert (
        "- `reef reproduce detector-1.2.0.reef.zip --trust --profile full` (about 90 min on one GPU): everything"
        in lines
    )
    assert "- `reef reproduce detector-1.2.0.reef.zip --trust --profile quick` (about 2 min): a small subset" in lines
    assert lines.index(next(line for line in lines if "--profile full" in line)) < lines.index(
        next(line for line in lines if "--profile quick" in line)
    )  # sorted by name


def test_each_claim_lists_its_experiments_with_the_command_and_the_values_expected():
    text = package_readme(DATA, "")
    assert "### C1: It is accurate\nWhere: Table 2.\n" in text
    assert (
        "- experiment `small` (quick, full): `reef run . -w evaluate -p images 50` "
        "should give accuracy = 0.9 ± 0.01, time_ms = 4 (informational)"
    ) in text


def test_a_claim_naming_its_metrics_shows_only_those():
    data = {**DATA, "claims": [{**DATA["claims"][0], "metrics": ["accuracy"]}]}
    assert "should give accuracy = 0.9 ± 0.01\n" in package_readme(data, "")


def test_the_solution_s_own_readme_is_kept_and_a_former_claims_section_replaced():
    existing = "# My detector\n\nRead me first.\n\n" + MARKER + "\n\nold claims that are gone\n"
    text = package_readme(DATA, existing)
    assert text.startswith("# My detector\n\nRead me first.\n\n" + MARKER)
    assert "old claims" not in text and text.count(MARKER) == 1


def test_without_claims_every_expected_result_is_said_to_be_checked():
    data = {"name": "plain", "version": "0.1.0"}
    text = package_readme(data, "")
    assert text.endswith("This solution declares no claims: every expected result is checked.\n")
    assert "--profile" not in text

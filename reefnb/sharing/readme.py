"""A package's README: the solution's own text, then its claims and the commands that check each."""

from __future__ import annotations

from reefnb.sharing.expectations import tolerance_text


def package_readme(data: dict, existing: str) -> str:
    """The package's README: the solution's own text, then the claims and how to check each."""
    marker = "## Claims and how to check them"
    text = (
        existing.split(marker)[0].rstrip()
        if existing
        else f"# {data['name']} {data['version']}\n\n{data.get('description', '')}".rstrip()
    )
    package = f"{data['name']}-{data['version']}.reef.zip"
    lines = [text, "", marker, ""]
    lines.append(
        f"Import and check everything with `reef reproduce {package} --trust`; it prints a verdict per metric "
        "and per claim."
    )
    profiles = data.get("profiles", {})
    for name, profile in sorted(profiles.items()):
        minutes = (
            f" (about {profile['expected_minutes']} min"
            + (f" on {profile['hardware']})" if profile.get("hardware") else ")")
            if profile.get("expected_minutes")
            else ""
        )
        lines.append(
            f"- `reef reproduce {package} --trust --profile {name}`{minutes}: {profile.get('description', '')}".rstrip(
                ": "
            )
        )
    expected = {entry.get("id"): entry for entry in data.get("expected", []) if entry.get("id")}
    for claim in data.get("claims", []):
        lines += ["", f"### {claim['id']}: {claim['statement']}"]
        if claim.get("where"):
            lines.append(f"Where: {claim['where']}.")
        for name in claim["expected"]:
            entry = expected.get(name, {})
            parameters = " ".join(f"-p {key} {value}" for key, value in entry.get("parameters", {}).items())
            metrics = ", ".join(
                f"{metric} = {spec.get('value')}" + tolerance_text(spec.get("tolerance") or {})
                for metric, spec in entry.get("metrics", {}).items()
                if not claim.get("metrics") or metric in claim["metrics"]
            )
            in_profiles = ", ".join(entry.get("profiles", ["full"])) if profiles else "every run"
            lines.append(
                f"- experiment `{name}` ({in_profiles}): `reef run . -w {entry.get('workflow', 'run')} "
                f"{parameters}`".rstrip()
                + f" should give {metrics}"
            )
    if not data.get("claims"):
        lines += ["", "This solution declares no claims: every expected result is checked."]
    return "\n".join(lines) + "\n"

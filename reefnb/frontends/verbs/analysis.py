"""pareto / dashboard: analyse the recorded runs (``reefnb.analysis.pareto``, ``plots``, ``dashboard``)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from reefnb.common.units import format_metric
from reefnb.frontends import commands
from reefnb.frontends.arguments import objective_options, options_from
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb

# --- pareto ---


def pareto_arguments(pareto: argparse.ArgumentParser) -> None:
    pareto.add_argument(
        "--solution", "-s", help="only the runs of this solution (name or folder; a folder gives default objectives)"
    )
    objective_options(pareto, "metrics to minimise (metric.NAME or NAME)", "metrics to maximise")
    pareto.add_argument(
        "--plot", metavar="FILE.html|png|svg", help="also draw the first two objectives (offline HTML, PNG or SVG)"
    )
    pareto.add_argument(
        "--color",
        metavar="COLUMN",
        help="colour the plot's points by this column (default: the manifest's dashboard colour, else env.name)",
    )
    pareto.add_argument("--log", choices=["x", "y", "xy"], help="log scale on these plot axes")
    pareto.add_argument(
        "--format", choices=["table", "csv", "json"], default="table", help="output format (default: table)"
    )


def pareto(args: Arguments, front: FrontEnd) -> commands.Pareto:
    return commands.pareto(options_from(commands.ParetoOptions, args))


def pareto_lines(found: commands.Pareto) -> list[str]:
    """The frontier as a table: numbers in each metric's declared format, units in the headers."""
    runs, columns = found.runs, found.columns
    units = {
        **runs.frame.attrs.get("units", {}),
        **{f"metric.{name}": spec["unit"] for name, spec in runs.metrics.items() if spec.get("unit")},
    }
    table = found.front[columns].copy()
    for column in columns:
        declared = runs.metrics.get(column.removeprefix("metric."), {}) if column.startswith("metric.") else {}
        if declared.get("format"):
            table[column] = [format_metric(value, {"format": declared["format"]}) for value in table[column]]
    table = table.rename(columns={c: f"{c} [{units[c]}]" for c in columns if c in units})
    objectives = ", ".join(
        f"{direction} {column}" + ("" if column in runs.declared else " (assumed: no goal declared)")
        for column, direction in runs.objectives.items()
    )
    return [
        f"{len(found.front)} of {len(runs.frame)} ok runs on the frontier of {objectives}",
        table.to_string(index=False),
    ]


def pareto_text(found: commands.Pareto, args: Arguments, out: TextIO) -> None:
    if args.format == "csv":
        found.front[found.columns].to_csv(out, index=False)
    else:
        print("\n".join(pareto_lines(found)), file=out)
    if found.plot:
        print(f"plot: {found.plot}", file=out)


def pareto_notebook(args: Arguments, front: FrontEnd) -> Any:
    """The Pareto explorer widget; --plot and --format csv print what the command prints."""
    if args.plot or args.format == "csv":
        print(PARETO.text_of(pareto(args, front), args))
        return None
    from reefnb.frontends.widgets import ParetoExplorer

    found = commands.frontier_runs(args.solution, commands.named_objectives(args.minimise, args.maximise))
    return ParetoExplorer(
        found.frame,
        objectives=found.objectives or None,
        color=commands.chart_color(found.solution, args.color),
        solution=found.solution,
    )


PARETO = Verb(
    "pareto",
    "the Pareto frontier of the ok runs: the best trade-offs between metrics",
    pareto_arguments,
    pareto,
    pareto_text,
    notebook=pareto_notebook,
    data=lambda found: found.as_dict(),
)


# --- dashboard ---


def dashboard_arguments(dashboard: argparse.ArgumentParser) -> None:
    dashboard.add_argument(
        "--solution",
        "-s",
        help="only the runs of this solution (name or folder; a folder gives the manifest's defaults)",
    )
    dashboard.add_argument(
        "-o",
        "--output",
        default="dashboard.html",
        metavar="FILE.html",
        help="where to write it (default: dashboard.html)",
    )
    objective_options(dashboard, "objectives to minimise (default: the manifest's)", "objectives to maximise")


DASHBOARD = Verb(
    "dashboard",
    "write an offline HTML dashboard of the recorded runs (charts, summaries, run details)",
    dashboard_arguments,
    lambda args, front: commands.dashboard(args.solution, args.output, args.minimise, args.maximise),
    lambda result, args, out: print(f"dashboard: {result['path']} ({result['runs']} runs)", file=out),
)

VERBS = (PARETO, DASHBOARD)

"""Sweeps: a workflow run once per point of a parameter grid (the cartesian product)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .exceptions import ReefError
from .execute import run
from .manifest import Solution, open_solution


def grid_points(grid: dict[str, list]) -> Iterator[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order (the first name varies slowest)."""
    names = list(grid)
    for name in names:
        if not isinstance(grid[name], (list, tuple)) or not grid[name]:
            raise ReefError(f"sweep: parameter '{name}' needs a non-empty list of values")
    for values in itertools.product(*(grid[name] for name in names)):
        yield dict(zip(names, values, strict=True))


def sweep(
    solution: Solution | str | Path,
    workflow: str = "run",
    grid: dict[str, list] | None = None,
    parameters: dict[str, Any] | None = None,
    fail_fast: bool = False,
    on_record: Callable[[dict], None] | None = None,
    **run_options: Any,
) -> list[dict]:
    """Run ``workflow`` once per grid point and return the records, in grid order.

    ``grid`` defaults to the workflow's ``sweep`` section of the manifest; ``parameters`` are
    fixed values applied to every run. A failed run is recorded and the sweep goes on unless
    ``fail_fast``. ``run_options`` go to ``reefnb.run`` (kernel, timeout, store ...).
    """
    solution = solution if isinstance(solution, Solution) else open_solution(solution)
    chosen = solution.workflow(workflow)
    grid = grid if grid is not None else chosen.sweep
    if not grid:
        raise ReefError(f"{solution.manifest_path or solution.path}: /workflows/{chosen.name}/sweep: no sweep grid given or declared")
    points = list(grid_points(grid))
    records = []
    for point in points:
        record = run(solution, workflow=chosen.name, parameters={**(parameters or {}), **point}, **run_options)
        records.append(record)
        if on_record is not None:
            on_record(record)
        if fail_fast and record["status"] != "ok":
            break
    return records

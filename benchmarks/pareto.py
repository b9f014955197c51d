"""Pareto frontier timings: reefnb.analysis.pareto against the `paretoset` package and a block-nested-loop baseline.

Uniform random data (seed 0): 1,000,000 points x 2 objectives and 100,000 x 3 (both minimised), timed
through the public path (a DataFrame in, a boolean mask out), best of three. paretoset (if installed)
gets the same numpy array, with distinct=False so that it keeps equal points as reefnb does; its numba
compilation is warmed up first. The baseline is the plain numpy filter users write (one pass per
remaining candidate, O(n·k·d)), on smaller n. Goal (issue 18): 2 objectives <= 2x one argsort of the first column;
faster than paretoset on every shape.
Run: .venv/bin/python benchmarks/pareto.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from timing import best_of

from reefnb.analysis.pareto import pareto_mask


def block_nested_loop(values: np.ndarray) -> np.ndarray:
    """The textbook numpy filter: keep a candidate, drop every point it dominates, next candidate."""
    on_front = np.ones(len(values), dtype=bool)
    for index in range(len(values)):
        if not on_front[index]:
            continue
        point = values[index]
        dominated = (values >= point).all(axis=1) & (values > point).any(axis=1)
        on_front &= ~dominated
    return on_front


def timed_case(rng, count: int, dimensions: int):
    """Random points to minimise on every axis, and reefnb's best time and front mask on them."""
    values = rng.random((count, dimensions))
    frame = pd.DataFrame(values, columns=[f"metric.m{i}" for i in range(dimensions)])
    objectives = {column: "min" for column in frame.columns}
    seconds, mask = best_of(lambda: pareto_mask(frame, objectives))
    return values, seconds, mask


def shapes(rng, count: int, dimensions: int) -> dict[str, np.ndarray]:
    """The data shapes of issue 18, all minimised: uniform; anti-correlated (a band around the plane sum = const,
    a large front); spherical (points just outside the unit sphere's positive orthant: many on the front);
    duplicate-heavy (a few distinct values per axis, so ties everywhere)."""
    uniform = rng.random((count, dimensions))
    base = rng.dirichlet(np.ones(dimensions), count)
    anti = base + rng.normal(0, 0.02, (count, 1))
    sphere = np.abs(rng.normal(size=(count, dimensions)))
    sphere = sphere / np.linalg.norm(sphere, axis=1, keepdims=True) * (1 + rng.exponential(0.05, (count, 1)))
    return {
        "uniform": uniform,
        "anti-correlated": anti,
        "spherical": sphere,
        "duplicate-heavy": rng.integers(0, 20, (count, dimensions)).astype(float),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    try:
        from paretoset import paretoset

        paretoset(rng.random((1000, 3)), sense=["min"] * 3, distinct=False)  # numba warm-up
    except ImportError:
        paretoset = None
    print(
        f"{'case':<34} {'reefnb':>9} {'argsort':>9} {'x argsort':>9} {'paretoset':>10} {'paretoset/reefnb':>16}  front"
    )
    for count, dimensions in ((1_000_000, 2), (100_000, 3), (100_000, 4)):
        for shape, values in shapes(rng, count, dimensions).items():
            frame = pd.DataFrame(values, columns=[f"metric.m{i}" for i in range(dimensions)])
            objectives = {column: "min" for column in frame.columns}
            ours, mask = best_of(lambda frame=frame, objectives=objectives: pareto_mask(frame, objectives))
            sort, _ = best_of(lambda values=values: np.argsort(values[:, 0]))
            line = (
                f"{f'{count:,} x {dimensions} {shape}':<34} {ours * 1e3:>7.1f}ms {sort * 1e3:>7.1f}ms "
                f"{ours / sort:>8.1f}x"
            )
            if paretoset is not None:
                theirs, their_mask = best_of(
                    lambda values=values, d=dimensions: paretoset(values, sense=["min"] * d, distinct=False), repeats=1
                )
                assert (np.asarray(their_mask) == mask).all(), f"paretoset and reefnb disagree on {shape}"
                line += f" {theirs * 1e3:>8.1f}ms {theirs / ours:>15.1f}x"
            print(f"{line}  {int(mask.sum())}")
    for count, dimensions in ((20_000, 2), (10_000, 3)):
        values, ours, mask = timed_case(rng, count, dimensions)
        theirs, their_mask = best_of(lambda values=values: block_nested_loop(values), repeats=1)
        assert (their_mask == mask).all(), "the baseline and reefnb disagree"
        print(
            f"{f'{count:,} x {dimensions} uniform, BNL':<34} {ours * 1e3:>7.1f}ms  BNL {theirs * 1e3:.1f}ms "
            f"({theirs / ours:.1f}x)  {int(mask.sum())}"
        )


if __name__ == "__main__":
    main()

"""Pareto frontier timings: reefnb.pareto against the `paretoset` package and a block-nested-loop baseline.

Uniform random data (seed 0): 1,000,000 points x 2 objectives and 100,000 x 3 (both minimised), timed
through the public path (a DataFrame in, a boolean mask out), best of three. paretoset (if installed)
gets the same numpy array, with distinct=False so that it keeps equal points as reefnb does; its numba
compilation is warmed up first. The baseline is the plain numpy filter users write (one pass per
remaining candidate, O(n·k·d)), on smaller n. Goal: 1M x 2 under 0.5 s, faster than paretoset on both.
Run: .venv/bin/python benchmarks/pareto.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from timing import best_of

from reefnb.pareto import pareto_mask


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


def main() -> None:
    rng = np.random.default_rng(0)
    try:
        from paretoset import paretoset

        paretoset(rng.random((1000, 3)), sense=["min"] * 3, distinct=False)  # numba warm-up
    except ImportError:
        paretoset = None
    print(f"{'case':<22} {'reefnb':>9} {'other':>14} {'other time':>11} {'ratio':>7}  front")
    for count, dimensions in ((1_000_000, 2), (100_000, 3)):
        values, ours, mask = timed_case(rng, count, dimensions)
        name = f"{count:,} x {dimensions}"
        if paretoset is not None:
            theirs, their_mask = best_of(lambda values=values, d=dimensions: paretoset(values, sense=["min"] * d, distinct=False))
            assert (np.asarray(their_mask) == mask).all(), "paretoset and reefnb disagree"
            print(f"{name:<22} {ours:>8.3f}s {'paretoset':>14} {theirs:>10.3f}s {theirs / ours:>6.1f}x  {int(mask.sum())}")
        else:
            print(f"{name:<22} {ours:>8.3f}s {'(paretoset not installed)':>26}  {int(mask.sum())}")
    for count, dimensions in ((20_000, 2), (10_000, 3)):
        values, ours, mask = timed_case(rng, count, dimensions)
        theirs, their_mask = best_of(lambda values=values: block_nested_loop(values), repeats=1)
        assert (their_mask == mask).all(), "the baseline and reefnb disagree"
        print(f"{f'{count:,} x {dimensions}':<22} {ours:>8.3f}s {'numpy BNL':>14} {theirs:>10.3f}s {theirs / ours:>6.1f}x  {int(mask.sum())}")
    # the worst case for a filter: every point on the front (a line for 2-D, the plane a + b + c = 1 for 3-D)
    line = rng.random(20_000)
    for name, values in (("20,000 x 2 all front", np.column_stack([line, 1 - line])),
                         ("20,000 x 3 all front", rng.dirichlet([1, 1, 1], 20_000))):
        frame = pd.DataFrame(values, columns=[f"metric.m{i}" for i in range(values.shape[1])])
        ours, mask = best_of(lambda frame=frame: pareto_mask(frame, {column: "min" for column in frame.columns}), repeats=1)
        if paretoset is not None:
            theirs, _ = best_of(lambda values=values: paretoset(values, sense=["min"] * values.shape[1], distinct=False), repeats=1)
            print(f"{name:<22} {ours:>8.3f}s {'paretoset':>14} {theirs:>10.3f}s {theirs / ours:>6.1f}x  {int(mask.sum())}")
        else:
            print(f"{name:<22} {ours:>8.3f}s  {int(mask.sum())}")

if __name__ == "__main__":
    main()

"""Pareto analysis of the results frame: the frontier, who dominates a run, non-dominated layers.

Objectives are ``{column: "min" | "max"}``; a bare metric name (``time_ms``) means ``metric.time_ms``.
Rows with NaN in an objective cannot be compared: they are left out, with a warning saying how many.
Points that are equal in every objective never dominate one another, so all of them are kept.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from reefnb.common.exceptions import ReefError

if TYPE_CHECKING:
    import pandas

DIRECTIONS = ("min", "max")
BLOCK_SIZE = 1024  # at most this many candidates compared among themselves at once (3+ objectives)
PREFILTER_FROM = 2_000  # rows; below this the prefilter costs more than it saves
COMPARISON_CELLS = 4_000_000  # at most this many booleans per front-versus-block comparison
BINS_2D = 4096  # bins of the first objective in the 2-objective prefilter of wide fronts
SWEEP_BLOCK = 2048  # rows of the 3-objective sweep checked against the staircase at once


def ok_runs(frame: pandas.DataFrame) -> pandas.DataFrame:
    """The runs a frontier is drawn from: those whose status is ok (a frame without statuses is taken as it is)."""
    return frame[frame["status"] == "ok"] if "status" in frame.columns else frame


def normalise_objectives(frame: pandas.DataFrame, objectives: Mapping[str, str]) -> dict[str, str]:
    """Objectives with full column names, checked against the frame; ReefError naming a bad one."""
    if not objectives:
        raise ReefError(f"no objectives given (metric columns: {_metric_columns(frame)})")
    resolved: dict[str, str] = {}
    for name, direction in objectives.items():
        column = name if name in frame.columns else f"metric.{name}"
        if column not in frame.columns:
            raise ReefError(f"no column '{name}' in the results (metric columns: {_metric_columns(frame)})")
        if direction not in DIRECTIONS:
            raise ReefError(f"objective '{column}': direction '{direction}' is neither 'min' nor 'max'")
        values = frame[column]
        if not (values.dtype.kind in "biuf" or values.isna().all()):
            try:
                values.astype(float)
            except (TypeError, ValueError):
                raise ReefError(
                    f"objective '{column}' is not numeric (metric columns: {_metric_columns(frame)})"
                ) from None
        resolved[column] = direction
    return resolved


def pareto_mask(frame: pandas.DataFrame, objectives: Mapping[str, str], warn: bool = True) -> np.ndarray:
    """A boolean array, True for the rows on the Pareto frontier (False for rows with NaN)."""
    objectives = normalise_objectives(frame, objectives)
    costs, usable = _costs(frame, objectives, warn=warn)
    mask = np.zeros(len(frame), dtype=bool)
    front = _front(costs)
    mask[front if usable.all() else np.flatnonzero(usable)[front]] = True
    return mask


def pareto_front(frame: pandas.DataFrame, objectives: Mapping[str, str]) -> pandas.DataFrame:
    """The rows on the Pareto frontier, sorted by the first objective (best first).

    Rows with NaN in an objective cannot be compared: they are left out, with a warning saying how
    many. Points that are equal in every objective never dominate one another, so all of them are kept.
    O(n log n) sort-and-sweep for two objectives; for three, a sweep in blocks against a staircase of the
    earlier fronts; a vectorised block skyline for four or more.

    Parameters
    ----------
    frame
        A results frame (``reefnb.results``), or any frame with the objectives' columns.
    objectives
        ``{column: "min" | "max"}``, the first one the sort order; a bare metric name (``time_ms``)
        means ``metric.time_ms``.

    Returns
    -------
    pandas.DataFrame
        The frontier's rows, columns as in ``frame``.

    Raises
    ------
    ReefError
        When no objective is given, or one names no column of ``frame``, is not numeric or has a
        direction other than ``min`` or ``max``.

    Examples
    --------
    >>> import pandas, reefnb
    >>> frame = pandas.DataFrame(
    ...     {"run_id": ["a", "b", "c"], "metric.time_ms": [5.0, 3.0, 4.0], "metric.accuracy": [0.9, 0.7, 0.6]}
    ... )
    >>> reefnb.pareto_front(frame, {"time_ms": "min", "accuracy": "max"})["run_id"].tolist()
    ['b', 'a']
    """
    objectives = normalise_objectives(frame, objectives)
    front = frame[pareto_mask(frame, objectives)]
    first, direction = next(iter(objectives.items()))
    return front.sort_values(first, ascending=direction == "min", kind="stable")


def pareto_layers(frame: pandas.DataFrame, objectives: Mapping[str, str]) -> pandas.Series:
    """Non-dominated sorting: 1 for the frontier, 2 for the frontier of the rest, ...; <NA> for NaN rows.

    Parameters
    ----------
    frame, objectives
        As ``pareto_front`` takes them.

    Returns
    -------
    pandas.Series
        ``pareto_layer`` (nullable integers) with the index of ``frame``.
    """
    import pandas

    objectives = normalise_objectives(frame, objectives)
    ranks, usable = _costs(frame, objectives, warn=True)
    if ranks.shape[1] > 2:
        ranks = _dense_ranks(ranks)
    layers = np.zeros(len(ranks), dtype=np.int64)
    remaining = np.arange(len(ranks))
    layer = 0
    while len(remaining):
        layer += 1
        on_front = np.zeros(len(remaining), dtype=bool)
        on_front[_front(ranks[remaining])] = True
        layers[remaining[on_front]] = layer
        remaining = remaining[~on_front]
    result = pandas.Series(pandas.NA, index=frame.index, dtype="Int64", name="pareto_layer")
    result.iloc[np.flatnonzero(usable)] = layers
    return result


def dominators(frame: pandas.DataFrame, run_id: str, objectives: Mapping[str, str]) -> pandas.DataFrame:
    """The runs that dominate ``run_id``, with ``by.<column>``: how much better each is (>= 0).

    Sorted by how many objectives they beat it on, then by the first objective.

    Parameters
    ----------
    frame
        A results frame with a ``run_id`` column.
    run_id
        The run to compare the others with.
    objectives
        As ``pareto_front`` takes them.

    Returns
    -------
    pandas.DataFrame
        ``run_id`` (and ``env.name`` when there is one), the objectives, ``by.<column>`` for each
        objective and ``beats_on`` (on how many objectives it is strictly better); no row when no run
        dominates ``run_id``.

    Raises
    ------
    ReefError
        When ``frame`` has no such run or no ``run_id`` column, the run has no value for an objective,
        or the objectives are not usable (see ``pareto_front``).
    """
    objectives = normalise_objectives(frame, objectives)
    if "run_id" not in frame.columns:
        raise ReefError("the frame has no run_id column")
    matches = frame.index[frame["run_id"] == run_id]
    if not len(matches):
        raise ReefError(f"no run '{run_id}' in the results")
    columns = list(objectives)
    values = frame[columns].astype(float).to_numpy()
    signs = np.array([1.0 if objectives[c] == "min" else -1.0 for c in columns])
    costs = values * signs  # everything minimised
    target = costs[frame.index.get_loc(matches[0])]
    if np.isnan(target).any():
        raise ReefError(
            f"run '{run_id}' has no value for "
            f"{', '.join(c for c, v in zip(columns, target, strict=True) if np.isnan(v))}"
        )
    better_or_equal = (costs <= target).all(axis=1)
    strictly = (costs < target).any(axis=1)
    dominating = better_or_equal & strictly
    result = frame.loc[dominating, [c for c in ("run_id", "env.name") if c in frame.columns] + columns].copy()
    for index, column in enumerate(columns):
        result[f"by.{column}"] = target[index] - costs[dominating, index]
    result["beats_on"] = (costs[dominating] < target).sum(axis=1)
    first = columns[0]
    return result.sort_values(["beats_on", first], ascending=[False, objectives[first] == "min"], kind="stable")


def _metric_columns(frame: pandas.DataFrame) -> str:
    return ", ".join(c for c in frame.columns if str(c).startswith("metric.")) or "none"


def _costs(frame: pandas.DataFrame, objectives: dict[str, str], warn: bool) -> tuple[np.ndarray, np.ndarray]:
    """The objective values, all turned into costs to minimise, of the rows without NaN; and which rows those are."""
    # column-major: every per-objective pass below reads one contiguous column
    matrix = np.empty((len(frame), len(objectives)), dtype=float, order="F")
    for index, (column, direction) in enumerate(objectives.items()):
        values = frame[column].to_numpy(dtype=float)
        if direction == "min":
            matrix[:, index] = values
        else:
            np.negative(values, out=matrix[:, index])
    usable = np.ones(len(frame), dtype=bool)
    for index in range(matrix.shape[1]):
        usable &= ~np.isnan(matrix[:, index])
    left_out = int((~usable).sum())
    if left_out and warn:
        warnings.warn(
            f"{left_out} of {len(frame)} rows have NaN in an objective ({', '.join(objectives)}) and were left out",
            stacklevel=3,
        )
    return (matrix if usable.all() else np.asfortranarray(matrix[usable])), usable


def _dense_ranks(costs: np.ndarray) -> np.ndarray:
    """Dense integer ranks per column: they keep every comparison (ties stay ties) and add exactly
    whatever the values (inf included), so the skyline can order candidates by their rank sum."""
    ranks = np.empty(costs.shape, dtype=np.int64)
    for index in range(costs.shape[1]):
        ranks[:, index] = np.unique(costs[:, index], return_inverse=True)[1].ravel()
    return ranks


def _front(costs: np.ndarray) -> np.ndarray:
    """Indices (into ``costs``) of the non-dominated rows; every objective minimised."""
    count, dimensions = costs.shape
    if count == 0:
        return np.empty(0, dtype=np.int64)
    if dimensions == 1:
        return np.flatnonzero(costs[:, 0] == costs[:, 0].min())
    if (
        count > PREFILTER_FROM and dimensions == 2
    ):  # bins of the first objective thin any shape in O(n), wide fronts too
        candidates = _binned_2d(costs[:, 0], costs[:, 1])
        if len(candidates) < count:
            return candidates[_front_pivoted(costs[candidates])]
    return _front_pivoted(costs)


def _front_pivoted(costs: np.ndarray) -> np.ndarray:
    """``_front`` after the bins: the pivots' prefilter when it pays, then the exact method."""
    count, dimensions = costs.shape
    if count > PREFILTER_FROM:
        candidates = _prefilter(costs)
        if (
            dimensions == 2 and len(candidates) > count // 2
        ):  # a wide front: another prefilter round would thin it as little
            return candidates[_front_2d(costs[candidates, 0], costs[candidates, 1])]
        if len(candidates) > count // 2:
            return candidates[_exact_front(costs[candidates])]
        if len(candidates) < count:
            return candidates[_front(costs[candidates])]
    return _exact_front(costs)


def _exact_front(costs: np.ndarray) -> np.ndarray:
    dimensions = costs.shape[1]
    if dimensions == 2:
        return _front_2d(costs[:, 0], costs[:, 1])
    if dimensions == 3:
        return _front_3d(costs)
    return _front_skyline(costs if costs.dtype.kind == "i" else _dense_ranks(costs))


def _prefilter(costs: np.ndarray) -> np.ndarray:
    """Indices of the rows that no pivot beats on every objective, in one O(n·d) pass over all rows
    and then passes over the survivors. The pivots (the row nearest the ideal point after scaling,
    then the best row of each objective) are real rows, so whatever one is strictly better than is
    off the front; ties are left for the exact pass. On typical data this leaves a small fraction."""
    columns = [costs[:, index] for index in range(costs.shape[1])]  # contiguous when costs is column-major
    pivots = [int(np.argmin(column)) for column in columns]
    scales = []
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.zeros(len(costs))
        for column in columns:
            low, high = column.min(), column.max()
            scales.append(1.0 / (high - low) if high > low else 1.0)
            scaled += column * scales[-1]
    if not np.isfinite(scaled).all():
        scaled[~np.isfinite(scaled)] = np.inf
    first = int(np.argmin(scaled))
    keep = _beaten_by(columns, costs[first], np.arange(len(costs)), scaled, scaled[first])
    if len(costs[0]) == 2 and len(keep) > len(costs) // 2:
        return keep  # a wide front (anti-correlated data): more pivots would cost more than the 2-D sweep they save
    # more pivots, found among the survivors: each objective's best, and the rows nearest the ideal
    # point when one objective weighs double (they sit in the middle of the front's other parts)
    with np.errstate(
        invalid="ignore"
    ):  # inf * 0 where a column has infinities: a NaN, then the first such row is the pivot
        pivots = pivots + [
            int(keep[np.argmin(scaled[keep] + column[keep] * scale)])
            for column, scale in zip(columns, scales, strict=True)
        ]
    for pivot in dict.fromkeys(pivots):
        keep = _beaten_by([column[keep] for column in columns], costs[pivot], keep, scaled[keep], scaled[pivot])
    return keep


def _beaten_by(
    columns: list[np.ndarray], pivot: np.ndarray, indices: np.ndarray, scaled: np.ndarray, pivot_scaled: float
) -> np.ndarray:
    """The indices whose row the pivot row does not dominate, as far as one cheap pass tells: the pivot is at
    most the row everywhere and its scaled sum is below the row's (equal rows have equal sums, so such a row
    differs somewhere). Rows whose sums tie by rounding are kept for the exact pass; so are equal rows."""
    with np.errstate(invalid="ignore"):
        beaten = scaled > pivot_scaled
        for column, value in zip(columns, pivot, strict=True):
            beaten &= column >= value
    return indices[~beaten]


def _binned_2d(first: np.ndarray, second: np.ndarray, bins: int = BINS_2D) -> np.ndarray:
    """Indices of the rows no row of an earlier bin of the first objective beats, in O(n) with no sort: a row of
    an earlier bin is strictly better on the first objective (flooring a monotone scaling keeps the order), so
    a row whose second value is above the least second value of the earlier bins is dominated. Rows with an
    infinity are kept for the exact pass and never count as beating another."""
    low, high = first.min(), first.max()
    all_finite = np.isfinite(low) and np.isfinite(high) and np.isfinite(second.min()) and np.isfinite(second.max())
    finite = None if all_finite else np.isfinite(first) & np.isfinite(second)
    if finite is not None:
        if not finite.any():
            return np.arange(len(first))
        low, high = first[finite].min(), first[finite].max()
    with np.errstate(over="ignore", divide="ignore"):
        scale = (bins - 1) / (high - low) if high > low else np.inf
    if not np.isfinite(scale):  # one value, or a range so narrow (subnormal) that scaling it overflows
        return np.arange(len(first))
    with np.errstate(invalid="ignore", over="ignore"):
        position = np.minimum((first - low) * scale, bins - 1)
    least = np.full(bins, np.inf)
    if finite is None:
        index = position.astype(np.int64)
        np.minimum.at(least, index, second)
    else:
        index = np.where(finite, position, 0).astype(np.int64)
        np.minimum.at(least, index[finite], second[finite])
    before = np.empty(bins)
    before[0] = np.inf
    np.minimum.accumulate(least[:-1], out=before[1:])
    beaten = second > before[index]
    if finite is not None:
        beaten &= finite
    return np.flatnonzero(~beaten)


def _front_2d(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Sort by the first, then sweep: a row is on the front when its second value is the least of its
    group of equal first values and below every second value of the groups before it."""
    order = np.argsort(first)
    first, second = first[order], second[order]
    if not (first[1:] == first[:-1]).any():  # no ties in the first objective: one running minimum decides
        keep = np.empty(len(second), dtype=bool)
        keep[0] = True
        np.less(second[1:], np.minimum.accumulate(second)[:-1], out=keep[1:])
        return np.sort(order[keep])
    starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
    group_minimum = np.minimum.reduceat(second, starts)
    before = np.r_[np.inf, np.minimum.accumulate(group_minimum)[:-1]]
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(first)]))
    keep = (second == group_minimum[group]) & (
        (second < before[group]) | (group == 0)
    )  # the first group has nothing before it, even at +inf
    return np.sort(order[keep])


def _front_3d(costs: np.ndarray) -> np.ndarray:
    """Three objectives: sweep the rows in order of the first objective, in blocks that never split a group of
    equal first values, so every row of an earlier block is strictly better on the first objective. A row is
    then dominated by an earlier block exactly when some earlier front row is at most it on the other two:
    one binary search in the staircase (the 2-D front, second objective ascending, third strictly descending)
    of the earlier fronts' last two objectives. What survives that is compared with the block's other
    survivors (a dominator in the block that the staircase removed is itself dominated by an earlier front
    row, which then dominates the row too), and the block's front joins the staircase."""
    order = np.argsort(costs[:, 0], kind="stable")
    first = costs[order, 0]
    boundaries = np.flatnonzero(first[1:] != first[:-1]) + 1  # where a group of equal first values starts
    second, third = costs[:, 1], costs[:, 2]
    stair_second, stair_third = np.empty(0), np.empty(0)
    front: list[np.ndarray] = []
    start, size = (
        0,
        min(64, SWEEP_BLOCK),
    )  # small blocks first: the first is compared within itself with no staircase to thin it
    while start < len(order):
        cut = int(np.searchsorted(boundaries, start + size))
        size = min(2 * size, SWEEP_BLOCK)
        end = int(boundaries[cut]) if cut < len(boundaries) else len(order)
        block = order[start:end]
        start = end
        if len(stair_second):
            below = (
                np.searchsorted(stair_second, second[block], side="right") - 1
            )  # last staircase row with second <= the row's
            block = block[(below < 0) | (stair_third[np.maximum(below, 0)] > third[block])]
        if len(block) > 1:
            block = block[~_dominated_by_values(costs[block], costs[block])]
        if not len(block):
            continue
        front.append(block)
        merged_second = np.concatenate([stair_second, second[block]])
        merged_third = np.concatenate([stair_third, third[block]])
        by_second = np.lexsort((merged_third, merged_second))
        merged_second, merged_third = merged_second[by_second], merged_third[by_second]
        step = np.empty(len(merged_third), dtype=bool)
        step[0] = True
        np.less(merged_third[1:], np.minimum.accumulate(merged_third)[:-1], out=step[1:])
        stair_second, stair_third = merged_second[step], merged_third[step]
    return np.sort(np.concatenate(front)) if front else np.empty(0, dtype=np.int64)


def _dominated_by_values(dominators: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For each candidate row, whether some dominator row is at most it everywhere and below it once."""
    dominated = np.zeros(len(candidates), dtype=bool)
    step = max(1, COMPARISON_CELLS // (len(candidates) * candidates.shape[1]))
    for start in range(0, len(dominators), step):
        part = dominators[start : start + step]
        at_most = part[:, None, 0] <= candidates[None, :, 0]
        below = part[:, None, 0] < candidates[None, :, 0]
        for index in range(1, candidates.shape[1]):
            at_most &= part[:, None, index] <= candidates[None, :, index]
            below |= part[:, None, index] < candidates[None, :, index]
        dominated |= (at_most & below).any(axis=0)
    return dominated


def _front_skyline(ranks: np.ndarray) -> np.ndarray:
    """Sort-filter skyline on integer ranks: candidates in order of rank sum, so a dominator always
    comes first. The first block of what remains is compared within itself (its survivors are on the
    front: anything that dominated them came earlier and was either on the front, which would have
    removed them, or dominated by a front point, which then dominates them too); then every point the
    survivors dominate is dropped from the rest, all with numpy broadcasting."""
    sums = ranks.sum(axis=1)
    order = np.lexsort(tuple(ranks[:, index] for index in range(ranks.shape[1] - 1, -1, -1)) + (sums,))
    values, sums = ranks[order], sums[order]
    remaining = np.arange(len(order))
    front: list[np.ndarray] = []
    block = 64
    while len(remaining):
        head, rest = remaining[:block], remaining[block:]
        head = head[~_dominated_by(values[head], sums[head], values[head], sums[head])]
        front.append(head)
        if len(rest):
            rest = rest[~_dominated_by(values[head], sums[head], values[rest], sums[rest])]
        remaining = rest
        block = min(block * 2, BLOCK_SIZE) if len(head) > block // 2 else block
    return np.sort(order[np.concatenate(front)])


def _dominated_by(
    dominator_values: np.ndarray, dominator_sums: np.ndarray, candidates: np.ndarray, candidate_sums: np.ndarray
) -> np.ndarray:
    """For each candidate, whether some dominator row dominates it. On ranks, "at most everywhere and
    not equal" is "at most everywhere and a smaller sum", which saves a pass."""
    dominated = np.zeros(len(candidates), dtype=bool)
    if not len(dominator_values) or not len(candidates):
        return dominated
    step = max(1, COMPARISON_CELLS // (len(candidates) * candidates.shape[1]))
    for start in range(0, len(dominator_values), step):
        at_most = dominator_sums[start : start + step, None] < candidate_sums[None, :]
        for index in range(candidates.shape[1]):
            at_most &= dominator_values[start : start + step, index, None] <= candidates[None, :, index]
        dominated |= at_most.any(axis=0)
    return dominated

"""reefnb.analysis.pareto against a brute-force O(n²) reference on random data with ties and NaNs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reefnb import ReefError
from reefnb.analysis.pareto import dominators, pareto_front, pareto_layers, pareto_mask


def brute_force_mask(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """O(n²): a row is on the front when no other row is at least as good everywhere and better once."""
    costs = values * np.array([1.0 if d == "min" else -1.0 for d in directions])
    usable = ~np.isnan(costs).any(axis=1)
    mask = np.zeros(len(costs), dtype=bool)
    for i in np.flatnonzero(usable):
        dominated = False
        for j in np.flatnonzero(usable):
            if (costs[j] <= costs[i]).all() and (costs[j] < costs[i]).any():
                dominated = True
                break
        mask[i] = not dominated
    return mask


def frame_of(values: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(values, columns=[f"metric.m{i}" for i in range(values.shape[1])])
    frame.insert(0, "run_id", [f"r{i}" for i in range(len(frame))])
    return frame


values_strategy = st.integers(1, 4).flatmap(
    lambda d: st.lists(
        st.lists(
            st.one_of(st.integers(0, 5).map(float), st.just(float("nan")), st.floats(-1e6, 1e6)), min_size=d, max_size=d
        ),
        min_size=0,
        max_size=40,
    ).map(lambda rows, d=d: np.array(rows, dtype=float).reshape(len(rows), d))
)


@settings(max_examples=200, deadline=None)
@given(values=values_strategy, data=st.data())
def test_front_matches_brute_force(values, data):
    directions = data.draw(
        st.lists(st.sampled_from(["min", "max"]), min_size=values.shape[1], max_size=values.shape[1])
    )
    frame = frame_of(values)
    objectives = dict(zip(frame.columns[1:], directions, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = pareto_mask(frame, objectives)
    np.testing.assert_array_equal(mask, brute_force_mask(values, directions))


@settings(max_examples=200, deadline=None)
@given(values=values_strategy, data=st.data())
def test_prefilter_path_matches_brute_force(values, data):
    """The pivot prefilter (normally only for thousands of rows) forced on for every size."""
    directions = data.draw(
        st.lists(st.sampled_from(["min", "max"]), min_size=values.shape[1], max_size=values.shape[1])
    )
    values = values.copy()
    big = np.abs(values) == 1e6
    values[big] = np.copysign(np.inf, values[big])  # infinities too
    frame = frame_of(values)
    objectives = dict(zip(frame.columns[1:], directions, strict=True))
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setattr("reefnb.analysis.pareto.PREFILTER_FROM", 1)
        warnings.simplefilter("ignore")
        mask = pareto_mask(frame, objectives)
    np.testing.assert_array_equal(mask, brute_force_mask(values, directions))


@pytest.mark.parametrize("dimensions", [2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_front_matches_brute_force_on_larger_random_data(dimensions, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 30, size=(1500, dimensions)).astype(float)  # many ties
    values[rng.random(values.shape) < 0.01] = np.nan
    if dimensions == 2:
        values[:, 1] = -values[:, 0] + rng.integers(0, 3, 1500)  # a long front
    directions = ["min", "max", "min", "max"][:dimensions]
    frame = frame_of(values)
    with pytest.warns(UserWarning, match=r"\d+ of 1500 rows have NaN"):
        mask = pareto_mask(frame, dict(zip(frame.columns[1:], directions, strict=True)))
    np.testing.assert_array_equal(mask, brute_force_mask(values, directions))


def test_pareto_front_keeps_equal_points_sorts_and_accepts_bare_names():
    frame = pd.DataFrame(
        {
            "run_id": list("abcde"),
            "metric.time_ms": [5.0, 1.0, 3.0, 3.0, 4.0],
            "metric.abs_error": [0.1, 0.9, 0.5, 0.5, 0.6],
        }
    )
    front = pareto_front(frame, {"time_ms": "min", "abs_error": "min"})
    assert list(front["run_id"]) == ["b", "c", "d", "a"]


def test_nan_rows_left_out_with_warning():
    frame = pd.DataFrame({"run_id": list("abc"), "metric.x": [1.0, np.nan, 2.0], "metric.y": [2.0, 0.0, 1.0]})
    with pytest.warns(UserWarning, match="1 of 3 rows have NaN"):
        front = pareto_front(frame, {"x": "min", "y": "min"})
    assert list(front["run_id"]) == ["a", "c"]


def test_bad_objectives_are_one_line_errors():
    frame = pd.DataFrame({"run_id": ["a"], "metric.time_ms": [1.0], "metric.mAP": [0.2], "env.name": ["x"]})
    with pytest.raises(
        ReefError, match=r"no column 'latency' in the results \(metric columns: metric.time_ms, metric.mAP\)"
    ):
        pareto_front(frame, {"latency": "min"})
    with pytest.raises(ReefError, match="direction 'up' is neither"):
        pareto_front(frame, {"mAP": "up"})
    with pytest.raises(ReefError, match="not numeric"):
        pareto_front(frame, {"env.name": "min"})


def test_dominators_says_by_how_much():
    frame = pd.DataFrame(
        {
            "run_id": list("abcd"),
            "metric.time_ms": [10.0, 5.0, 12.0, 10.0],
            "metric.mAP": [0.2, 0.3, 0.25, 0.2],
        }
    )
    result = dominators(frame, "a", {"time_ms": "min", "mAP": "max"})
    assert list(result["run_id"]) == ["b"]  # d is equal to a, c is slower
    assert result["by.metric.time_ms"].iloc[0] == pytest.approx(5.0)
    assert result["by.metric.mAP"].iloc[0] == pytest.approx(0.1)
    with pytest.raises(ReefError, match="no run 'zz'"):
        dominators(frame, "zz", {"time_ms": "min"})


@pytest.mark.parametrize("dimensions", [2, 3])
def test_layers_match_repeated_brute_force_peeling(dimensions):
    rng = np.random.default_rng(7)
    values = rng.integers(0, 10, size=(300, dimensions)).astype(float)
    values[3, 0] = np.nan
    frame = frame_of(values)
    objectives = {c: "min" for c in frame.columns[1:]}
    with pytest.warns(UserWarning):
        layers = pareto_layers(frame, objectives)
    assert layers.isna().sum() == 1 and pd.isna(layers.iloc[3])
    expected = np.zeros(len(values), dtype=int)
    remaining = np.flatnonzero(~np.isnan(values).any(axis=1))
    layer = 0
    while len(remaining):
        layer += 1
        on_front = brute_force_mask(values[remaining], ["min"] * dimensions)
        expected[remaining[on_front]] = layer
        remaining = remaining[~on_front]
    usable = ~np.isnan(values).any(axis=1)
    np.testing.assert_array_equal(layers[usable].to_numpy(dtype=int), expected[usable])


@pytest.mark.parametrize("dimensions", [2, 3])
def test_prefiltered_large_frames_match_a_vectorised_brute_force(dimensions):
    rng = np.random.default_rng(11)
    values = rng.integers(0, 50, size=(4000, dimensions)).astype(float)
    values[:50] = values[0]  # a block of equal points
    values[100, 0] = np.inf
    costs = values
    at_most = (costs[:, None, :] <= costs[None, :, :]).all(axis=2)
    below = (costs[:, None, :] < costs[None, :, :]).any(axis=2)
    expected = ~(at_most & below).any(axis=0)
    frame = frame_of(values)
    np.testing.assert_array_equal(pareto_mask(frame, {c: "min" for c in frame.columns[1:]}), expected)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), prefilter=st.booleans())
def test_two_objective_fast_paths_match_brute_force(data, prefilter):
    """Two objectives: the running-minimum sweep (no ties in the first objective) and the wide-front branch
    (anti-correlated points the pivot prefilter cannot thin), with infinities, against the brute force."""
    firsts = data.draw(
        st.lists(
            st.one_of(st.floats(-1e3, 1e3), st.sampled_from([np.inf, -np.inf])), min_size=1, max_size=60, unique=True
        )
    )
    noise = data.draw(
        st.lists(
            st.one_of(st.floats(-5, 5), st.sampled_from([np.inf, -np.inf, 0.0])),
            min_size=len(firsts),
            max_size=len(firsts),
        )
    )
    values = np.column_stack([firsts, [-first + extra for first, extra in zip(firsts, noise, strict=True)]])
    values[np.isnan(values)] = 0.0  # inf - inf
    directions = data.draw(st.lists(st.sampled_from(["min", "max"]), min_size=2, max_size=2))
    frame = frame_of(values)
    with pytest.MonkeyPatch.context() as patch:
        if prefilter:
            patch.setattr("reefnb.analysis.pareto.PREFILTER_FROM", 1)
        mask = pareto_mask(frame, dict(zip(frame.columns[1:], directions, strict=True)))
    np.testing.assert_array_equal(mask, brute_force_mask(values, directions))


three_objective_rows = st.lists(
    st.lists(
        st.one_of(st.integers(0, 3).map(float), st.sampled_from([np.inf, -np.inf, np.nan, -0.0]), st.floats(-1e3, 1e3)),
        min_size=3,
        max_size=3,
    ),
    min_size=0,
    max_size=60,
).map(lambda rows: np.array(rows, dtype=float).reshape(len(rows), 3))


@settings(max_examples=200, deadline=None)
@given(values=three_objective_rows, data=st.data(), block=st.sampled_from([1, 2, 3, 7]), prefilter=st.booleans())
def test_three_objective_sweep_matches_brute_force(values, data, block, prefilter):
    """The 3-objective sweep with tiny blocks (many blocks, groups of equal first values larger than a block,
    the staircase of earlier fronts), with equal rows, infinities, -0.0 and NaN, with and without the prefilter."""
    directions = data.draw(st.lists(st.sampled_from(["min", "max"]), min_size=3, max_size=3))
    frame = frame_of(values)
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setattr("reefnb.analysis.pareto.SWEEP_BLOCK", block)
        if prefilter:
            patch.setattr("reefnb.analysis.pareto.PREFILTER_FROM", 1)
        warnings.simplefilter("ignore")
        mask = pareto_mask(frame, dict(zip(frame.columns[1:], directions, strict=True)))
    np.testing.assert_array_equal(mask, brute_force_mask(values, directions))


@pytest.mark.parametrize("dimensions", [3, 4])
def test_duplicate_heavy_frames_keep_every_copy_of_the_front(dimensions):
    """A few distinct values per objective, so every row has many equal copies: the prefilter's pivots remove
    the rows they are at most everywhere and differ from, never their own copies."""
    rng = np.random.default_rng(5)
    values = rng.integers(0, 6, size=(3000, dimensions)).astype(float)
    values[values[:, 0] == 0, 1:] = np.maximum(
        values[values[:, 0] == 0, 1:], 2
    )  # no single best row: a front of several values
    costs = values
    at_most = (costs[:, None, :] <= costs[None, :, :]).all(axis=2)
    below = (costs[:, None, :] < costs[None, :, :]).any(axis=2)
    expected = ~(at_most & below).any(axis=0)
    frame = frame_of(values)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("reefnb.analysis.pareto.SWEEP_BLOCK", 100)
        mask = pareto_mask(frame, {c: "min" for c in frame.columns[1:]})
    np.testing.assert_array_equal(mask, expected)
    assert expected.sum() > 10 and len(np.unique(values[expected], axis=0)) > 1


@settings(max_examples=200, deadline=None)
@given(data=st.data(), bins=st.sampled_from([1, 2, 3, 7, 4096]))
def test_two_objective_binned_prefilter_matches_brute_force(data, bins):
    """The bins of the first objective that thin wide 2-objective fronts: few bins (many rows per bin), ties in
    both objectives, infinities and NaN, every direction, against the brute force."""
    cells = st.one_of(
        st.integers(-3, 3).map(float), st.floats(-1e3, 1e3), st.sampled_from([np.inf, -np.inf, np.nan, -0.0])
    )
    rows = data.draw(st.lists(st.tuples(cells, cells), min_size=1, max_size=80))
    values = np.array(rows, dtype=float).reshape(len(rows), 2)
    anti = data.draw(st.booleans())
    if anti:  # a wide front, so the branch that bins is taken after the first pivot
        values[:, 1] = -values[:, 0] + np.nan_to_num(values[:, 1], nan=0.0, posinf=0.0, neginf=0.0) * 1e-3
    directions = data.draw(st.lists(st.sampled_from(["min", "max"]), min_size=2, max_size=2))
    frame = frame_of(values)
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patch.setattr("reefnb.analysis.pareto.PREFILTER_FROM", 1)
        patch.setattr("reefnb.analysis.pareto.BINS_2D", bins)
        mask = pareto_mask(frame, dict(zip(frame.columns[1:], directions, strict=True)))
    np.testing.assert_array_equal(mask, brute_force_mask(values, directions))

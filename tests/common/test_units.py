"""The one byte-size formatter and parser, and the one formatter of a metric with its unit (reefnb.common.units)."""

from __future__ import annotations

import numpy as np
import pytest

from reefnb.common.exceptions import ArtifactError
from reefnb.common.units import format_decimal, format_metric, format_size, parse_size


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (10 * 2**20, "10.0 MiB"),
        (2 * 2**30, "2.0 GiB"),
        (3 * 2**40, "3072.0 GiB"),
    ],
)
def test_format_size(count, text):
    assert format_size(count) == text


@pytest.mark.parametrize("count", [0, 512, 1536, 10 * 2**20, 2 * 2**30])
def test_what_format_size_writes_parse_size_reads_back(count):
    assert parse_size(format_size(count)) == count


def test_a_bad_size_names_where_it_came_from():
    with pytest.raises(ArtifactError, match="^REEF_MAX_ATTACHED: 'lots' is not a size"):
        parse_size("lots", "REEF_MAX_ATTACHED")


def test_numbers_read_as_numbers():
    """Issue 31: counts in decimal with thousands separators ("10,000 points", not "1e+04 points"), the manifest's
    format where it declares one, scientific notation only for tiny or huge magnitudes."""
    assert format_metric(10000.0, {"unit": "points"}) == "10,000 points"
    assert format_metric(np.int64(56960), {"unit": "parameters"}) == "56,960 parameters"
    assert [format_metric(value, {}) for value in (12345.6, 0.56301, 3.5054, 0.0003, 2e-5, float("nan"), "VALID")] == [
        "12,346",
        "0.563",
        "3.505",
        "0.0003",
        "2e-05",
        "",
        "VALID",
    ]
    assert (
        format_metric(0.563, {"format": ".4f"}) == "0.5630"
        and format_metric(397.21, {"format": ".1f", "unit": "samples/s"}) == "397.2 samples/s"
    )


def test_format_decimal_keeps_non_numbers_and_extremes_as_they_are():
    assert [format_decimal(value) for value in (True, "n/a", float("inf"), 1e16, -2500.4, 7)] == [
        "True",
        "n/a",
        "inf",
        "1e+16",
        "-2,500",
        "7",
    ]
    assert format_metric(3.5, {"format": "not a format"}) == "3.5" and format_metric(None, {"unit": "s"}) == ""

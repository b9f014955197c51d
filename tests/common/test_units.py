"""The one byte-size formatter and parser (reefnb.common.units)."""

from __future__ import annotations

import pytest

from reefnb.common.exceptions import ArtifactError
from reefnb.common.units import format_size, parse_size


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

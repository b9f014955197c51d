"""A notebook path longer than the file system allows, sent to the lab server: one line and 400, not an OSError
(found by the REST-body fuzzer on Python 3.10, where Path.exists() raises ENAMETOOLONG)."""

from __future__ import annotations

import pytest

from reefnb.common.exceptions import RequestError
from reefnb.frontends.server import confined, resolve_target


@pytest.mark.parametrize("relative", ["x" * 5000, "folder/" + "y" * 300 + ".ipynb"])
def test_a_name_too_long_is_a_bad_request(tmp_path, relative):
    for call in (confined, resolve_target):
        with pytest.raises(RequestError) as refused:
            call(tmp_path, relative)
        assert refused.value.status in (400, 404) and "\n" not in str(refused.value) and len(str(refused.value)) < 400

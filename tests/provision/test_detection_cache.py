"""reefnb.provision.detection.cache: one cache file per environment, each entry kept with its signature."""

from __future__ import annotations

import json
import os
import sys

from reefnb.provision.detection import cache
from reefnb.provision.detection.base import DetectContext


def test_one_file_per_environment_under_reef_home(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(sys.executable)
    here, there = cache.cache_path(), cache.cache_path(DetectContext(str(tmp_path / "bin" / "python")))
    assert here.parent == there.parent and here.parent.parts[-2:] == ("cache", "detect")
    assert str(here).startswith(os.environ["REEF_HOME"]) and here != there


def test_a_cache_is_read_back_only_for_its_own_environment_and_format(tmp_path):
    context, path = DetectContext(), tmp_path / "detect.json"
    kept = {"format": cache.CACHE_FORMAT, "identity": context.identity, "detectors": {"cpu": {"signature": 1}}}
    cache.write_cache(path, kept)
    assert cache.read_cache(path, context) == kept
    for other in ({**kept, "identity": "elsewhere"}, {**kept, "format": 0}, {**kept, "detectors": []}):
        path.write_text(json.dumps(other))
        assert cache.read_cache(path, context) == {}
    path.write_text("{not json")
    assert cache.read_cache(path, context) == {} and cache.read_cache(tmp_path / "none.json", context) == {}


def test_an_entry_holds_while_its_known_signature_is_the_same():
    entry = {"signature": {"boot": "b1"}, "data": 1}
    assert cache.cache_holds(entry, {"boot": "b1"})
    assert not cache.cache_holds(entry, {"boot": "b2"})
    assert not cache.cache_holds(entry, None) and not cache.cache_holds(None, {"boot": "b1"})

"""The one entry-point loader (reefnb.common.plugins): a broken plugin is named and skipped, the others load."""

from __future__ import annotations

import logging
import sys

import pytest

from reefnb.common.plugins import entry_point_values, load_object, load_plugins

GROUP = "reefnb.test-plugins"


@pytest.fixture
def distribution(tmp_path, monkeypatch):
    """An installed distribution (a .dist-info on sys.path) with three plugins, one of them broken."""
    info = tmp_path / "reef_test_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reef-test-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\nfirst = reef_test_plugins:First\nbroken = reef_test_plugins_missing:X\nlast = "
        "reef_test_plugins:LAST\n"
    )
    (tmp_path / "reef_test_plugins.py").write_text("class First:\n    pass\n\n\nLAST = 'last'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("reef_test_plugins", None)


def test_a_broken_plugin_is_named_and_the_others_load(distribution, caplog):
    caplog.set_level(logging.WARNING, logger="reefnb.common.plugins")
    assert entry_point_values(GROUP) == [
        ("first", "reef_test_plugins:First"),
        ("broken", "reef_test_plugins_missing:X"),
        ("last", "reef_test_plugins:LAST"),
    ]
    plugins = load_plugins(GROUP)
    assert [(plugin.name, plugin.loaded) for plugin in plugins] == [
        ("first", sys.modules["reef_test_plugins"].First),
        ("last", "last"),
    ]
    assert (
        "skipping reefnb.test-plugins plugin broken = reef_test_plugins_missing:X: ModuleNotFoundError" in caplog.text
    )


def test_make_refuses_what_is_not_a_plugin(distribution, caplog):
    def instances_only(name, loaded):
        if not isinstance(loaded, type):
            raise TypeError(f"{name} is not a class")
        return loaded()

    assert [plugin.name for plugin in load_plugins(GROUP, instances_only)] == ["first"]
    assert "plugin last = reef_test_plugins:LAST: TypeError: last is not a class" in caplog.text


def test_load_object_reads_entry_point_values():
    assert load_object("os.path:join") is __import__("os").path.join
    assert load_object("json") is __import__("json")
    with pytest.raises(ValueError, match="not an entry point"):
        load_object("a module:thing")

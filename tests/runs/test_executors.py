"""Sweep executors as plugins (reefnb.runs.executors): the entry point group, the pick by name, the run sink.

A third-party executor is registered the way a distribution registers one: a ``*.dist-info`` folder with an
``entry_points.txt`` on ``sys.path`` (what ``pip install`` writes), next to the plugin's module.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from importlib.metadata import entry_points

import pytest
from helpers.solutions import REPO, write_solution

import reefnb
from reefnb.common.exceptions import EnvironmentFailure, ReefError
from reefnb.runs.executors import (
    EXECUTOR_GROUP,
    Executor,
    RunSink,
    executor_for,
    executor_name,
    executor_names,
)
from reefnb.runs.executors.dask import DaskExecutor
from reefnb.runs.executors.local import LocalExecutor
from reefnb.runs.spec import SweepExecution
from reefnb.runs.store import Store

# A third party's executor: each run's tries in turn, in this process, their records read from the run itself.
PLUGIN = """
class ListExecutor:
    made = []

    def __init__(self, execution):
        self.execution = execution
        ListExecutor.made.append(self)

    def run(self, runs, sink):
        queue = [(run, 0) for run in runs]
        while queue and not sink.stopped:
            run, attempt = queue.pop(0)
            sink.running(1)
            if sink.retry_after(run, attempt, run.record(attempt)):
                queue.insert(0, (run, attempt + 1))


class NotAnExecutor:
    def __init__(self, execution):
        pass
"""


def register(tmp_path, monkeypatch, entries: str, module: str | None = PLUGIN, name: str = "reef_plugin") -> None:
    """Install a distribution ``reef-plugin`` on ``sys.path`` with ``entries`` under ``[reefnb.executors]``, and
    ``module`` as its module ``name``."""
    site = tmp_path / "site"
    info = site / "reef_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reef-plugin\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[{EXECUTOR_GROUP}]\n{textwrap.dedent(entries)}", encoding="utf-8")
    if module is not None:
        (site / f"{name}.py").write_text(module, encoding="utf-8")
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(site))


@dataclass(frozen=True)
class FakeRun:
    """A run that needs no notebook: the status of each of its tries, in order."""

    key: str
    statuses: tuple[str, ...]

    def record(self, attempt: int) -> dict:
        return {"run_id": f"{self.key}-{attempt}", "status": self.statuses[attempt], "duration_s": 0.5}


def sink_for(execution: SweepExecution, on_record=None) -> tuple[RunSink, list[int], list[str]]:
    """A sink without a store, and the lists of what it told the sweep: running counts, finished run ids."""
    running: list[int] = []
    finished: list[str] = []

    class Tell:
        def running_now(self, count: int) -> None:
            running.append(count)

        def finished(self, record: dict) -> None:
            finished.append(record["run_id"])

    return RunSink(execution, Tell(), None, on_record), running, finished


def test_reef_registers_local_and_dask_under_the_group():
    found = {entry.name: entry.value for entry in entry_points(group="reefnb.executors")}
    assert found["local"] == "reefnb.runs.executors.local:LocalExecutor"
    assert found["dask"] == "reefnb.runs.executors.dask:DaskExecutor"
    assert {"local", "dask"} <= set(executor_names())


def test_the_sweep_picks_local_by_default_and_dask_for_a_scheduler():
    assert executor_name(SweepExecution()) == "local"
    assert executor_name(SweepExecution(scheduler="local:2")) == "dask"
    assert executor_name(SweepExecution(scheduler="local:2", executor="mine")) == "mine"
    local = executor_for(SweepExecution(jobs=3))
    assert isinstance(local, LocalExecutor) and isinstance(local, Executor) and local.jobs == 3
    assert isinstance(executor_for(SweepExecution(scheduler="local:2")), DaskExecutor)


def test_a_third_party_executor_registered_by_its_distribution_is_picked_and_runs(tmp_path, monkeypatch):
    register(tmp_path, monkeypatch, "listed = reef_plugin:ListExecutor\n")
    assert "listed" in executor_names()
    execution = SweepExecution(executor="listed", retries=1)
    executor = executor_for(execution)
    assert type(executor).__module__ == "reef_plugin" and executor.execution is execution

    handed = []
    sink, running, finished = sink_for(execution, on_record=lambda record: handed.append(record["status"]))
    executor.run([FakeRun("a", ("killed", "ok")), FakeRun("b", ("failed",))], sink)
    assert finished == ["a-0", "a-1", "b-0"] and handed == ["killed", "ok", "failed"]
    assert running == [1, 1, 1]
    assert {key: record["status"] for key, record in sink.by_key.items()} == {"a": "ok", "b": "failed"}


def test_an_unknown_executor_names_those_registered():
    with pytest.raises(ReefError, match=r"no executor 'nowhere' .*registered: .*dask, .*local") as caught:
        executor_for(SweepExecution(executor="nowhere"))
    assert caught.value.exit_code == 2  # wrong input: nothing ran


def test_a_broken_or_wrong_plugin_is_one_line_about_the_environment(tmp_path, monkeypatch):
    register(
        tmp_path,
        monkeypatch,
        "missing = reef_plugin_gone:Executor\nwrong = reef_plugin:NotAnExecutor\n",
    )
    with pytest.raises(EnvironmentFailure, match=r"executor missing = reef_plugin_gone:Executor cannot be loaded"):
        executor_for(SweepExecution(executor="missing"))
    with pytest.raises(EnvironmentFailure, match=r"made NotAnExecutor, which has no run\(\)"):
        executor_for(SweepExecution(executor="wrong"))


def test_the_sink_retries_a_killed_run_while_retries_are_left():
    sink, _, finished = sink_for(SweepExecution(retries=1))
    run = FakeRun("a", ("killed", "killed"))
    assert sink.may_retry(0) and not sink.may_retry(1)
    assert sink.retry_after(run, 0, run.record(0)) is True
    assert "a" not in sink.by_key  # not the run's last record yet
    assert sink.retry_after(run, 1, run.record(1)) is False
    assert sink.by_key["a"]["run_id"] == "a-1" and finished == ["a-0", "a-1"]
    failed = FakeRun("b", ("failed",))
    assert sink.retry_after(failed, 0, failed.record(0)) is False  # a notebook's failure is not tried again
    assert not sink.stopped and sink.still_pending() == []


def test_the_sink_stops_the_sweep_at_the_first_run_not_ok_with_fail_fast():
    sink, _, _ = sink_for(SweepExecution(fail_fast=True))
    ok, failed = FakeRun("a", ("ok",)), FakeRun("b", ("failed",))
    sink.retry_after(ok, 0, ok.record(0))
    assert not sink.stopped
    sink.retry_after(failed, 0, failed.record(0))
    assert sink.stopped


def contributing_example() -> str:
    """The executor CONTRIBUTING.md walks a newcomer through (its first Python block under "A sweep executor")."""
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text[text.index("### A sweep executor") :]
    return textwrap.dedent(section.split("```python\n", 1)[1].split("```", 1)[0])


def test_the_executor_of_the_contributing_walkthrough_runs_a_real_sweep(tmp_path, monkeypatch):
    """Registered as its walkthrough says, picked by name: each point on a real kernel, a killed kernel tried again,
    every try in the store."""
    register(tmp_path, monkeypatch, "spawn = reef_spawn:SpawnExecutor\n", contributing_example(), name="reef_spawn")
    marker = tmp_path / "died-once"
    cell = (
        f"import os, pathlib, reefnb\nif a == 2 and not pathlib.Path({str(marker)!r}).exists():\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n    os._exit(9)\nreefnb.record('pid', os.getpid())"
    )
    manifest = {"name": "spawned", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
    folder = write_solution(tmp_path / "spawned", manifest, "a = 1", cell)
    store = Store(tmp_path / "results.sqlite")
    records = reefnb.sweep(folder, grid={"a": [1, 2]}, executor="spawn", jobs=2, retries=1, store=store)
    assert [(record["parameters"]["a"], record["status"]) for record in records] == [(1, "ok"), (2, "ok")]
    assert sorted(record["status"] for record in store.records()) == ["killed", "ok", "ok"]
    with pytest.raises(ReefError, match=r"no executor 'nowhere'"):  # every point recorded ok: the name still counts
        reefnb.sweep(folder, grid={"a": [1, 2]}, executor="nowhere", store=store)

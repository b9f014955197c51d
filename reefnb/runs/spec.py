"""What a user asks of a run or a sweep, as one value made once by each front end.

A ``RunSpec`` holds a run's options as the user gave them (nothing resolved: no kernel chosen, no parameter cast).
The run verb makes one from its parsed arguments (``RunSpec.from_arguments``), the JupyterLab server and the
parameters widget from their requests, ``reefnb.run`` from its keywords, ``reef reproduce`` and ``reef mlperf
submission`` for each run they need; it then goes unchanged through ``execute.prepare`` (which resolves it into a
``RunRequest`` that keeps it) to the execution and the record. A ``SweepSpec`` is a ``RunSpec`` and what makes it a
sweep: the grid, the environments or kernels, and how the runs execute (``SweepExecution``).

Adding a run option: a field of ``RunSpec`` (with its comment), the run verb's line for it
(``reefnb/frontends/verbs/running.py``; its ``dest`` is the field's name), and its use where the run is prepared or
executed (``reefnb.runs.execute``). ``tests/runs/test_spec.py`` checks that the verb's options and the fields agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from reefnb.common.exceptions import ReefError

if TYPE_CHECKING:
    from reefnb.runs.store import Store
    from reefnb.solution.manifest import Solution

# Where a run's record goes: True, the default store ($REEF_HOME/results.sqlite); a Store; False, nowhere
# (``reefnb.runs.execute.target_store`` opens it). This module imports no store: a front end builds specs cheaply.
StoreTarget: TypeAlias = "Store | bool"


@dataclass(frozen=True)
class RunSpec:
    """One run as the user asked for it; ``reefnb.runs.execute.prepare`` resolves it.

    Every field's default leaves the choice to the solution (its manifest, its notebook, the environment
    ``reef init`` made) or to reef's own default.
    """

    solution: str | Path | Solution | None = None  # a solution folder, its solution.json, or a notebook
    workflow: str = "run"  # the workflow to run
    parameters: dict[str, Any] = field(default_factory=dict)  # over the manifest's defaults and parameter_file's
    parameter_file: str | Path | None = None  # a JSON or YAML file of parameter values
    kernel: str | None = None  # the Jupyter kernel (None: the environment's, else the one reef init made, else own)
    environment: str | None = None  # a reef environment whose kernel runs the notebook
    timeout: float | None = None  # seconds for the whole run (None: the workflow's timeout)
    telemetry: bool | None = None  # False: the processes are not sampled (None: the manifest says; default on)
    trace_files: bool = True  # record the files the kernel reads (files_read); sweeps turn it off
    checkpoint: bool = False  # checkpoint the kernel after every cell, so that a failed run can be resumed
    max_output: int | str | None = None  # output kept per cell: bytes or a size such as 10M (reefnb.runs.output_limit)

    @classmethod
    def from_arguments(cls, arguments: Any, **overrides: Any) -> RunSpec:
        """A spec from parsed arguments (an ``argparse.Namespace``): each attribute named as a field gives that
        field; others are ignored; ``overrides`` win (``parameters=dict(arguments.parameter)``)."""
        return cls(**(_named_fields(cls, arguments) | overrides))


@dataclass(frozen=True)
class SweepExecution:
    """Where and how a sweep executes its runs, checked."""

    jobs: int | None = None  # parallel runs on this machine (None: what cores and memory allow)
    scheduler: str | None = None  # a Dask scheduler: tcp://HOST:PORT, or local:N
    retries: int = 0  # further tries of a run whose kernel died
    fail_fast: bool = False  # stop at the first run that does not end ok
    rerun: bool = False  # run again the points already recorded ok
    ship: bool | None = None  # send the solution folder to Dask workers (None: for tcp:// and tls:// schedulers)
    executor: str | None = None  # a registered executor (reefnb.executors); None: dask with a scheduler, else local

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ReefError(f"sweep: retries must be 0 or more, got {self.retries}")
        if self.jobs is not None and self.jobs < 1:
            raise ReefError(f"sweep: jobs must be 1 or more, got {self.jobs}")


@dataclass(frozen=True)
class SweepSpec:
    """A sweep as the user asked for it: ``run`` at every point of ``grid`` x (``environments`` or ``kernels``).

    ``run.parameters`` are fixed for every point; ``run.environment`` (``run.kernel``) is the one environment (kernel)
    when ``environments`` (``kernels``) is not given. ``grid`` None: the workflow's own ``sweep`` grid.
    """

    run: RunSpec
    grid: dict[str, list] | None = None
    environments: tuple[str, ...] = ()
    kernels: tuple[str, ...] = ()
    execution: SweepExecution = SweepExecution()

    def __post_init__(self) -> None:
        environments, kernels = self._environments(), self._kernels()
        if environments and kernels:
            raise ReefError("sweep: give environments or kernels, not both")

    @classmethod
    def from_arguments(cls, arguments: Any, **overrides: Any) -> SweepSpec:
        """A sweep spec from parsed arguments (and ``overrides``, which win), each name going to the ``RunSpec``,
        the ``SweepSpec`` or the ``SweepExecution`` field it names; a sweep records no files read.

        Raises
        ------
        TypeError
            For an override that names no field of the three.
        """
        named = _named_fields(RunSpec, arguments) | _named_fields(SweepExecution, arguments)
        named |= {name: value for name, value in _named_fields(cls, arguments).items() if name not in _PARTS}
        return cls.from_options(**(named | overrides))

    @classmethod
    def from_options(cls, **options: Any) -> SweepSpec:
        """A sweep spec from keywords named as the fields of ``RunSpec``, ``SweepSpec`` and ``SweepExecution``
        (``reefnb.sweep``'s); ``trace_files`` is off unless given.

        Raises
        ------
        TypeError
            For a keyword that names no field of the three.
        """
        kinds = {kind: _field_names(kind) for kind in (RunSpec, SweepExecution, cls)}
        unknown = set(options) - set().union(*kinds.values()) | (_PARTS & set(options))
        if unknown:
            raise TypeError(f"sweep got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        part = {kind: {name: options[name] for name in names if name in options} for kind, names in kinds.items()}
        sweep = part[cls]
        for name in ("environments", "kernels"):
            sweep[name] = tuple(sweep.get(name) or ())
        run = RunSpec(**({"trace_files": False} | part[RunSpec]))
        return cls(run=run, execution=SweepExecution(**part[SweepExecution]), **sweep)

    @property
    def targets(self) -> list[tuple[str | None, str | None]]:
        """Where every point runs: ``(environment, kernel)`` pairs, one of each None; ``[(None, None)]``: where
        the solution runs by default."""
        targets = [(name, None) for name in self._environments()] + [(None, name) for name in self._kernels()]
        return targets or [(None, None)]

    def _environments(self) -> tuple[str, ...]:
        return self.environments or ((self.run.environment,) if self.run.environment else ())

    def _kernels(self) -> tuple[str, ...]:
        return self.kernels or ((self.run.kernel,) if self.run.kernel else ())


_PARTS = {"run", "execution"}  # SweepSpec's fields that from_options makes


def _field_names(kind: type) -> set[str]:
    return {spec.name for spec in dataclasses.fields(kind)}


def _named_fields(kind: type, arguments: Any) -> dict[str, Any]:
    """The attributes of ``arguments`` named as fields of ``kind``."""
    return {name: getattr(arguments, name) for name in _field_names(kind) if hasattr(arguments, name)}

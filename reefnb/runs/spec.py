"""What a user asks of a run or a sweep, as one value made once by each front end.

A ``RunSpec`` holds a run's options as the user gave them (nothing resolved: no kernel chosen, no parameter cast).
The run verb makes one from its parsed arguments (``RunSpec.from_arguments``), the JupyterLab server and the
parameters widget from their requests, ``reefnb.run`` from its keywords, ``reef reproduce`` and ``reef mlperf
submission`` for each run they need; it then goes unchanged through ``execute.prepare`` (which resolves it into a
``RunRequest`` that keeps it) to the execution and the record. A ``SweepSpec`` is a ``RunSpec`` and what makes it a
sweep: the grid, the environments or kernels, and how the runs execute (``SweepExecution``).

Adding a run option: a field of ``RunSpec`` (and its entry under Parameters), the run verb's line for it
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

    Each default leaves the choice to the solution (its manifest, its notebook, the environment ``reef init``
    made) or to reef. ``reefnb.run(solution, workflow, parameters, **options)`` takes the other fields as keywords.

    Parameters
    ----------
    solution
        A solution folder, its ``solution.json``, a notebook, or a ``Solution``.
    workflow
        The workflow to run.
    parameters
        Parameter values, over the manifest's defaults and ``parameter_file``'s; each is cast to the type the
        notebook's parameters cell declares.
    parameter_file
        A JSON or YAML file of parameter values, over the manifest's defaults.
    kernel
        The Jupyter kernel to run on (default: ``environment``'s, else the environment ``reef init`` made for the
        solution, else the notebook's own).
    environment
        A reef environment whose kernel runs the notebook.
    timeout
        Seconds for the whole run (default: the workflow's ``timeout``).
    telemetry
        False: the run's processes are not sampled (default: the manifest's ``telemetry`` setting; on).
    trace_files
        A Python kernel records the files it opens for reading (the record's ``files_read``, which ``reef export``
        packs and ``reef reproduce`` checks); a sweep's runs leave it off.
    checkpoint
        Checkpoint the kernel's state after every cell, so that ``reefnb.resume`` can replay a run that does not
        finish (``reefnb.runs.checkpoints``).
    max_output
        The most output each cell keeps: bytes or a size such as ``10M`` (default: ``$REEF_MAX_CELL_OUTPUT``, else
        10 MiB; ``reefnb.runs.output_limit``).
    """

    solution: str | Path | Solution | None = None
    workflow: str = "run"
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_file: str | Path | None = None
    kernel: str | None = None
    environment: str | None = None
    timeout: float | None = None
    telemetry: bool | None = None
    trace_files: bool = True
    checkpoint: bool = False
    max_output: int | str | None = None

    @classmethod
    def from_arguments(cls, arguments: Any, **overrides: Any) -> RunSpec:
        """A spec from parsed arguments (an ``argparse.Namespace``): each attribute named as a field gives that
        field; others are ignored; ``overrides`` win (``parameters=dict(arguments.parameter)``)."""
        return cls(**(_named_fields(cls, arguments) | overrides))


@dataclass(frozen=True)
class SweepExecution:
    """Where and how a sweep executes its runs, checked as it is made.

    ``reefnb.sweep`` takes these fields as keywords.

    Parameters
    ----------
    jobs
        Parallel runs on this machine (default: what cores and memory allow).
    scheduler
        A Dask scheduler: ``tcp://HOST:PORT`` (an existing cluster) or ``local:N`` (a LocalCluster of N workers).
    retries
        Further tries of a run whose kernel died.
    fail_fast
        Stop at the first run that does not end ok.
    rerun
        Run again the points already recorded ok.
    ship
        Send the solution folder to Dask workers (default: for ``tcp://`` and ``tls://`` schedulers).
    executor
        A registered executor's name (entry point group ``reefnb.executors``; default: ``dask`` with a
        ``scheduler``, else ``local``).
    """

    jobs: int | None = None
    scheduler: str | None = None
    retries: int = 0
    fail_fast: bool = False
    rerun: bool = False
    ship: bool | None = None
    executor: str | None = None

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ReefError(f"sweep: retries must be 0 or more, got {self.retries}")
        if self.jobs is not None and self.jobs < 1:
            raise ReefError(f"sweep: jobs must be 1 or more, got {self.jobs}")


@dataclass(frozen=True)
class SweepSpec:
    """A sweep as the user asked for it: ``run`` at every point of ``grid`` x (``environments`` or ``kernels``).

    ``reefnb.sweep`` makes one from its keywords (``SweepSpec.from_options``), the sweep verbs from their parsed
    arguments (``SweepSpec.from_arguments``).

    Parameters
    ----------
    run
        The run at every point: its ``parameters`` are fixed for every point (the point's over them), its
        ``environment`` (``kernel``) is the one environment (kernel) when ``environments`` (``kernels``) is empty.
    grid
        Parameter name -> list of values, the points being their cartesian product (default: the workflow's own
        ``sweep`` grid).
    environments
        Reef environments to run every point in (not with ``kernels``).
    kernels
        Kernels to run every point on (not with ``environments``).
    execution
        Where and how the runs execute.
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

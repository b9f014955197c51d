"""The jupyter_server extension: REST endpoints under ``/reef/api/`` for the Reef sidebar in JupyterLab.

Each endpoint is a thin shell over the reefnb Python API, as the CLI is: the solution of a notebook and
its parameter schema, the requirements of its solution (and ``reef init`` to install them), its runs,
a run with parameters, an export, the dashboard, the machine's fingerprint, and the page of a run whose executed
notebook is open (``run``: its parameters, metrics, files and telemetry; POST runs it again with its parameters;
saving over that notebook is refused: it is the run's archive). Handlers need jupyter_server's
authentication; every ``path`` is relative to the server's root and refused when it leads outside it.
A user mistake (a ReefError) is a 4xx answer ``{"message": ONE LINE}``; blocking work runs in threads.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

import reefnb
from reefnb.common.exceptions import ReefError, RequestError
from reefnb.common.json_input import parse_json, read_json
from reefnb.common.paths import reef_home
from reefnb.frontends import commands
from reefnb.frontends.rendering import file_details, refused_line, run_view
from reefnb.runs.attachments import file_links
from reefnb.runs.spec import RunSpec
from reefnb.solution.columns import SYSTEM_METRICS
from reefnb.solution.confinement import is_inside
from reefnb.solution.manifest import Solution, load_solution

API_PREFIX = "reef/api"
MAX_RUNS = 200  # the newest runs shown in the sidebar
MAX_BODY_BYTES = 1024 * 1024  # a request body: parameters and a path, never data
# A run's executed notebook: SOLUTION/runs/RUN_ID/NAME.ipynb (reefnb.runs.execute: RUN_ID is new_run_id's).
RUN_NOTEBOOK = re.compile(r"(?:^|/)runs/(?P<run_id>\d{8}T\d{6}Z-[0-9a-f]+)/[^/]+\.ipynb$")


@dataclass(frozen=True)
class Target:
    """What a request's ``path`` names: the notebook, its solution, the workflow that runs it."""

    notebook: Path  # absolute
    relative: str  # as the request gave it, normalised
    solution: Solution  # a bare notebook is a one-workflow solution
    workflow: str | None  # the workflow whose notebook this is; None when no workflow runs it


def confined(root: Path, relative: str, must_exist: bool = True) -> Path:
    """``relative`` (a contents-API path, '/'-separated) under ``root``; RequestError when it leads outside."""
    if not isinstance(relative, str) or not relative.strip():
        raise RequestError("give the 'path' of a notebook, relative to the server's root")
    text = relative.strip()
    if "\x00" in text:
        raise RequestError(f"{text!r}: not a usable path")
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and pure.parts[0].endswith(":")):
        raise RequestError(f"{text}: give a path relative to the server's root, not an absolute one", status=403)
    root = root.resolve()
    try:
        path = (root / Path(*pure.parts)).resolve() if pure.parts else root
        inside = path.is_relative_to(root)
        missing = inside and must_exist and not path.exists()
    except OSError as error:  # a name longer than the file system allows (Python 3.10's exists() raises it)
        shown = text if len(text) <= 120 else f"{text[:120]}..."
        raise RequestError(f"{shown}: not a usable file name ({error.strerror or type(error).__name__})") from None
    if not inside:
        raise RequestError(f"{text}: outside the server's root: refused", status=403)
    if missing:
        raise RequestError(f"{text}: no such file", status=404)
    return path


def relative_to_root(root: Path, path: Path) -> str:
    return Path(path).resolve().relative_to(root.resolve()).as_posix()


def resolve_target(root: Path, relative: str) -> Target:
    """The notebook at ``relative`` under ``root`` and its solution (``commands.notebook_solution``: the
    ``solution.json`` inside the root whose workflows run it, else the notebook alone)."""
    notebook = confined(root, relative)
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise RequestError(f"{relative}: not a notebook (.ipynb)")
    found = commands.notebook_solution(notebook, within=root)
    return Target(found.notebook, relative_to_root(root, notebook), found.solution, found.workflow)


# --- what each endpoint answers (plain functions: the handlers only parse, confine and wrap) ---


def describe(root: Path, target: Target) -> dict:
    """The notebook's solution, its workflows and the parameter
    schema of the notebook's workflow (``reef params``'s)."""
    solution = target.solution
    schema = commands.notebook_parameters_of(solution, target.workflow, target.notebook).schema
    return {
        "path": target.relative,
        "solution": {
            "name": solution.name,
            "version": solution.version,
            "description": solution.data.get("description", ""),
            "folder": relative_to_root(root, solution.path),
            "manifest": relative_to_root(root, solution.manifest_path) if solution.manifest_path else None,
            "workflows": sorted(solution.workflows),
        },
        "workflow": target.workflow,
        "parameters": schema,
    }


def requirements(root: Path, target: Target, declared: dict | None = None) -> dict:
    """The requirements of the notebook's solution checked against where it runs (``commands.run_place``: ``place``,
    ``summary``), and what Install would change (``install``: its label and changes); nothing changes."""
    here = commands.requirements_here(
        commands.NotebookSolution(target.notebook, target.solution, target.workflow), declared
    )
    solution = target.solution
    return {
        "solution": f"{solution.name}@{solution.version}",
        **here.as_dict(),
        "installable": solution.manifest_path is not None,
    }


def requirements_as_edited(root: Path, target: Target, body: dict) -> dict:
    """``requirements`` with ``body["declared"]``: the notebook's ``metadata.reef`` as the editor holds it (a
    ``%reef require`` into the open notebook, not saved yet)."""
    declared = body.get("declared")
    if declared is not None and not isinstance(declared, dict):
        raise RequestError("'declared' must be the notebook's metadata.reef, an object")
    return requirements(root, target, declared)


def install(root: Path, target: Target, body: dict) -> dict:
    """``reef init`` for the notebook's solution: an environment and kernel with what is missing (refused as
    ``reef init`` refuses: unmet requirements, and a package's code or unpinned requirements without trust)."""
    solution = target.solution
    if solution.manifest_path is None:
        raise RequestError(
            f"{target.relative}: not part of a solution (no solution.json runs it): export it as a solution first"
        )
    environment = commands.init(commands.InitRequest(source=solution.path)).lock.get("environment", {})
    return {
        "solution": f"{solution.name}@{solution.version}",
        "environment": environment.get("name"),
        "kernel": environment.get("kernel"),
        "path": environment.get("path"),
    }


def run_summary(root: Path, record: dict) -> dict:
    """A run record as the sidebar shows it: status, parameters, metrics (value and unit), the error."""
    view = run_view(record)
    try:
        output = relative_to_root(root, Path(view.notebook)) if view.notebook else None
    except ValueError:
        output = None
    return {
        "run_id": record["run_id"],
        "workflow": view.workflow,
        "status": view.status,
        "started": record.get("started"),
        "duration_s": view.duration_s,
        "parameters": view.parameters,
        "metrics": {metric.name: {"value": metric.value, "unit": metric.unit or None} for metric in view.metrics},
        "error": view.problem(cell=False) or None,
        "output": output,
        "system": view.system or None,  # what the run's processes did (reefnb.runs.telemetry)
        "files": attached_files(root, record),
        "files_refused": [refused_line(entry) for entry in record.get("files_refused") or []],
    }


def attached_files(root: Path, record: dict) -> list[dict]:
    """The files the run attached (reefnb.attach): name, the summary's details (size, media type, sha256), and
    ``path``, relative to the server's root, for those here under it (the sidebar opens them), else None."""
    links = file_links(record, root, within=root)
    return [
        {"name": entry["name"], "details": file_details(entry), "path": links.get(entry["name"])}
        for entry in record.get("files") or []
    ]


def runs(root: Path, target: Target) -> dict:
    """The recorded runs of the notebook's solution, newest first."""
    records = commands.solution_records(target.solution)[::-1][:MAX_RUNS]
    return {
        "solution": target.solution.name,
        "store": str(commands.store_path()),
        "runs": [run_summary(root, r) for r in records],
    }


def run_workflow(root: Path, target: Target, body: dict) -> dict:
    """Run the notebook's workflow (``body["workflow"]``, default: the one that runs this notebook) with
    ``body["parameters"]``, cast and checked as ``reef run -p`` does."""
    parameters, workflow = body.get("parameters", {}), body.get("workflow")
    if not isinstance(parameters, dict):
        raise RequestError("'parameters' must be an object of parameter names to values")
    if workflow is not None and not isinstance(workflow, str):
        raise RequestError("'workflow' must be a workflow's name")
    workflow = workflow or target.workflow
    if workflow is None:
        raise RequestError(f"{target.relative}: no workflow of {target.solution.manifest_path} runs this notebook")
    if not is_inside(root, target.solution.workflow(workflow).notebook.absolute()):
        raise RequestError(
            f"{target.relative}: the notebook of workflow '{workflow}' is outside the server's root: refused",
            status=403,
        )
    record = commands.run(RunSpec(solution=target.solution, workflow=workflow, parameters=parameters))
    return run_summary(root, record)


def export(root: Path, target: Target, body: dict) -> dict:
    """Write the notebook's solution (or the notebook alone) as a package inside the root: at ``body["output"]``,
    else ``NAME-VERSION.reef.zip`` in the solution's folder."""
    output = body.get("output")
    if output is not None and not isinstance(output, str):
        raise RequestError("'output' must be a path relative to the server's root")
    solution = target.solution
    source = solution.path if solution.manifest_path is not None else target.notebook
    if output:
        destination = confined(root, output, must_exist=False)
        if not destination.name.endswith(".reef.zip"):
            raise RequestError(f"{output}: a package's name ends in .reef.zip")
        if not destination.parent.is_dir():
            raise RequestError(f"{output}: no such folder", status=404)
    else:
        destination = solution.path / f"{solution.name}-{solution.version}.reef.zip"
    summary = commands.export(commands.ExportOptions(source=source, output=destination))
    package = relative_to_root(root, destination)
    return {
        **summary,
        "package": package,
        "runs": len(summary["runs"]),
        "expected": len(summary["expected"]),
        "members": len(summary["members"]),
    }


def dashboard(root: Path, target: Target) -> dict:
    """The offline dashboard page of the solution's runs (``html``: one self-contained page)."""
    return {"solution": target.solution.name, **commands.dashboard_page(target.solution)}


def detect_summary(root: Path) -> dict:
    """This machine's fingerprint (cached, as ``reef detect``), and where reef keeps its data."""
    return {"reef_home": str(reef_home()), "fingerprint": commands.detect()}


# --- the run page: a run's executed notebook ---


def run_id_of(relative: str) -> str | None:
    """The run id in a path of the form ``.../runs/RUN_ID/NAME.ipynb``, else None."""
    found = RUN_NOTEBOOK.search(relative.replace("\\", "/"))
    return found["run_id"] if found else None


def notebook_run_id(notebook: Path) -> str | None:
    """``metadata.reef.run_id`` of a notebook file (reef writes it into every executed notebook), else None."""
    try:
        data = read_json(notebook, expect=dict)
    except ReefError:
        return None
    metadata = data.get("metadata")
    reef = metadata.get("reef") if isinstance(metadata, dict) else None
    run_id = reef.get("run_id") if isinstance(reef, dict) else None
    return run_id if isinstance(run_id, str) else None


def executed_run(root: Path, path: Any = None, run_id: Any = None) -> tuple[dict, Path]:
    """The run record and executed notebook named by ``path`` (``.../runs/RUN_ID/NAME.ipynb`` under the root, whose
    ``metadata.reef.run_id`` is RUN_ID) or by ``run_id`` (its notebook must be under the root); RequestError else."""
    if run_id not in (None, ""):
        if not isinstance(run_id, str) or not re.fullmatch(r"[0-9A-Za-z_.:-]{1,100}", run_id):
            raise RequestError("'run_id' must be a run's id, as `reef results` shows it")
        record = reefnb.default_store().get(run_id)
        if record is None:
            raise RequestError(f"run {run_id}: not recorded in {commands.store_path()}", status=404)
        output = (record.get("notebook") or {}).get("output_path") or ""
        if not output or not is_inside(root, Path(output)):
            raise RequestError(
                f"run {run_id}: its executed notebook {output or '(none)'} is not under the server's root", status=404
            )
        path = relative_to_root(root, Path(output))
    if not isinstance(path, str):
        raise RequestError("give the 'path' of a run's executed notebook (or its 'run_id')")
    notebook = confined(root, path)
    relative = relative_to_root(root, notebook)
    named = run_id_of(relative)
    if named is None or not notebook.is_file():
        raise RequestError(f"{relative}: not a run's executed notebook (SOLUTION/runs/RUN_ID/NAME.ipynb)", status=404)
    if notebook_run_id(notebook) != named:
        raise RequestError(
            f"{relative}: its metadata.reef.run_id is not {named}: not the executed notebook of run {named}", status=404
        )
    record = reefnb.default_store().get(named)
    if record is None:
        raise RequestError(f"{relative}: run {named} is not recorded in {commands.store_path()} (removed?)", status=404)
    return record, notebook


def run_solution(root: Path, record: dict, notebook: Path) -> Solution | None:
    """The solution a run ran, under the root: the folder holding ``runs/RUN_ID/`` when its manifest is there (a
    solution folder moved with its runs), else the one the record names; None when neither is under the root."""
    folder = notebook.parent.parent.parent
    for candidate in (folder, Path((record.get("solution") or {}).get("path") or folder)):
        if (candidate / "solution.json").is_file() and is_inside(root, candidate):
            try:
                return load_solution(candidate / "solution.json")
            except ReefError:
                continue
    return None


def telemetry_rows(system: Any) -> list[dict]:
    """The run's telemetry (``record["system"]``) as rows: each measured value with its unit and meaning, then what
    could not be measured and why (``energy_unavailable``...)."""
    system = system if isinstance(system, dict) else {}
    rows = [
        {"name": name, "value": value, "unit": spec["unit"] or None, "description": spec["description"]}
        for name, spec in SYSTEM_METRICS.items()
        if isinstance(value := system.get(name), (int, float)) and not isinstance(value, bool)
    ]
    for key, value in system.items():
        if key.endswith("_unavailable") and isinstance(value, str):
            rows.append({"name": key.removesuffix("_unavailable"), "value": None, "unit": None, "description": value})
    return rows


def environment_line(environment: Any) -> str:
    """Where the run ran, one line: ``kernel python3 · Python 3.11.7 · HOST (Debian 12, AMD EPYC x 2)``."""
    environment = environment if isinstance(environment, dict) else {}
    python = environment.get("python") or {}
    system = environment.get("os") or {}
    cpu = environment.get("cpu") or {}
    machine = ", ".join(
        part
        for part in (
            system.get("distribution") or system.get("system"),
            f"{cpu.get('model')} x {cpu.get('count')}" if cpu.get("model") else None,
        )
        if part
    )
    parts = [
        f"kernel {environment.get('kernel') or environment.get('name') or '?'}",
        f"{python.get('implementation') or 'Python'} {python.get('version') or '?'}",
        f"{environment.get('hostname') or '?'}" + (f" ({machine})" if machine else ""),
    ]
    return " · ".join(parts)


def run_page(root: Path, record: dict, notebook: Path) -> dict:
    """What the sidebar shows for a run's executed notebook: the run (status, parameters, metrics, files, telemetry,
    where it ran), its solution, and ``source``: the workflow's notebook that "rerun" runs again (None when the
    solution is not under the root, and then ``rerun`` says why it cannot)."""
    solution = run_solution(root, record, notebook)
    named = record.get("solution") or {}
    source = None
    if solution is not None and record.get("workflow") in solution.workflows:
        workflow_notebook = solution.workflow(record["workflow"]).notebook
        source = relative_to_root(root, workflow_notebook) if is_inside(root, workflow_notebook.absolute()) else None
    series = (record.get("system") or {}).get("series")
    return {
        **run_summary(root, record),
        "notebook": relative_to_root(root, notebook),
        "ended": record.get("ended"),
        "solution": {
            "name": named.get("name"),
            "version": named.get("version"),
            "folder": relative_to_root(root, solution.path) if solution else None,
        },
        "source": source,
        "rerun": None
        if source
        else f"run {record['run_id']}: its solution is not under the server's root: it cannot run again here",
        "environment": environment_line(record.get("environment")),
        "telemetry": telemetry_rows(record.get("system")),
        "telemetry_series": relative_to_root(root, notebook.parent / series)
        if isinstance(series, str) and (notebook.parent / series).is_file()
        else None,
    }


def rerun(root: Path, record: dict, notebook: Path) -> dict:
    """Run the run's workflow again with its parameters (a new run, recorded) and answer the new run's summary,
    ``rerun_of`` naming the old one."""
    page = run_page(root, record, notebook)
    if page["source"] is None:
        raise RequestError(page["rerun"], status=409)
    target = resolve_target(root, page["source"])
    new = commands.run(
        RunSpec(solution=target.solution, workflow=record["workflow"], parameters=dict(record.get("parameters") or {}))
    )
    return {**run_summary(root, new), "rerun_of": record["run_id"]}


def refuse_saving_a_run(model: Any = None, path: str = "", contents_manager: Any = None, **_: Any) -> None:
    """jupyter_server's pre-save hook: saving over a run's executed notebook is refused (403, one line): it is what
    the run left, the archive its record points to. "Save as" elsewhere makes an editable copy."""
    run_id = run_id_of(path or "")
    if run_id is None or not isinstance(model, dict) or model.get("type") != "notebook" or contents_manager is None:
        return
    try:
        existing = confined(Path(contents_manager.root_dir), path)
    except RequestError:
        return
    if existing.is_file() and notebook_run_id(existing) == run_id:
        raise web.HTTPError(
            403,
            f"{path}: the executed notebook of run {run_id} is kept as the run left it: not saved (Save As "
            "makes a copy to edit)",
        )


def json_text(value: Any) -> str:
    """JSON that JavaScript's JSON.parse reads: NaN and infinities become strings."""

    def finite(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)
        if isinstance(item, dict):
            return {key: finite(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [finite(inner) for inner in item]
        return item

    return json.dumps(finite(value), default=str)


# --- handlers ---


class ReefHandler(APIHandler):
    """One endpoint: ``on_get(root, target)`` answers GET, ``on_post(root, target, body)`` POST, where the target is
    the notebook named by ``path`` (query or body). The work runs in a thread; a ReefError is a 4xx with one line."""

    on_get: Callable[[Path, Target], Any] | None = None
    on_post: Callable[[Path, Target, dict], Any] | None = None

    @property
    def root(self) -> Path:
        return Path(self.settings["server_root_dir"]).expanduser()

    def body(self) -> dict:
        return parse_json(self.request.body or b"{}", "the request body", max_bytes=MAX_BODY_BYTES, expect=dict)

    def target(self, path: Any) -> Target:
        if not isinstance(path, str):
            raise RequestError("give the 'path' of a notebook, relative to the server's root")
        return resolve_target(self.root, path)

    @web.authenticated
    async def get(self) -> None:
        if self.on_get is None:
            raise web.HTTPError(405)
        path = self.get_query_argument("path", "")
        await self.answer(lambda: self.on_get(self.root, self.target(path)))

    @web.authenticated
    async def post(self) -> None:
        if self.on_post is None:
            raise web.HTTPError(405)

        def work() -> Any:
            body = self.body()
            return self.on_post(self.root, self.target(body.get("path")), body)

        await self.answer(work)

    async def answer(self, work: Callable[[], Any]) -> None:
        try:  # not asyncio.to_thread: it copies the context, and jupyter_core keeps its event loop in a ContextVar
            result = await asyncio.get_running_loop().run_in_executor(None, work)
        except RequestError as error:
            return self.refuse(error.status, [str(error)])
        except ReefError as error:
            return self.refuse(
                400, getattr(error, "problems", None) or str(error).splitlines() or [type(error).__name__]
            )
        self.set_header("Content-Type", "application/json")
        self.finish(json_text(result))

    def refuse(self, status: int, problems: list[str]) -> None:
        """``message``: the first problem, in one line; ``problems``: all of them."""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": problems[0] + more, "problems": problems}))


class DetectHandler(ReefHandler):
    """GET: this machine's fingerprint (no notebook needed)."""

    @web.authenticated
    async def get(self) -> None:
        await self.answer(lambda: detect_summary(self.root))


class RunHandler(ReefHandler):
    """``run``: GET the run page of a run's executed notebook (``path``) or of a run (``run_id``); POST (the same in
    the body) runs that run's workflow again with its parameters and answers the new run."""

    @web.authenticated
    async def get(self) -> None:
        path, run_id = self.get_query_argument("path", None), self.get_query_argument("run_id", None)
        await self.answer(lambda: run_page(self.root, *executed_run(self.root, path, run_id)))

    @web.authenticated
    async def post(self) -> None:
        def work() -> Any:
            body = self.body()
            return rerun(self.root, *executed_run(self.root, body.get("path"), body.get("run_id")))

        await self.answer(work)


def endpoint(get: Callable | None = None, post: Callable | None = None) -> type[ReefHandler]:
    """A handler class whose GET and POST run these endpoint functions."""
    name = "".join(part.title() for part in (get or post).__name__.split("_"))
    return type(
        f"{name}Handler",
        (ReefHandler,),
        {"on_get": staticmethod(get) if get else None, "on_post": staticmethod(post) if post else None},
    )


HANDLERS = [
    ("notebook", endpoint(get=describe)),
    ("requirements", endpoint(get=requirements, post=requirements_as_edited)),
    ("install", endpoint(post=install)),
    ("runs", endpoint(get=runs, post=run_workflow)),
    ("export", endpoint(post=export)),
    ("dashboard", endpoint(get=dashboard)),
    ("detect", DetectHandler),
    ("run", RunHandler),
]


def _load_jupyter_server_extension(server_app) -> None:
    """Register the handlers (jupyter_server calls this when the extension is enabled)."""
    web_app = server_app.web_app
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [(url_path_join(base_url, API_PREFIX, name), handler) for name, handler in HANDLERS])
    register = getattr(server_app.contents_manager, "register_pre_save_hook", None)
    if register is not None:  # jupyter_server 2; a run's executed notebook is its archive
        register(refuse_saving_a_run)
    server_app.log.info("reefnb: REST endpoints at %s", url_path_join(base_url, API_PREFIX))

"""What the ``reef`` command prints: each verb's data from the command layer, as text (or, with ``--json``, as the
JSON ``reefnb.frontends.cli`` writes).

A verb function takes the parsed arguments and ``out``, calls ``reefnb.frontends.commands`` and returns
``(exit code, JSON-able result)``; it prints its text unless ``--json`` was given.

The verbs that run no notebook answer at once: the core is imported by the verb that uses it, here and in the
command layer, so that `reef detect` loads detection and not papermill, numpy, tornado, packaging or the store
(``tests/frontends/test_cli_imports.py`` checks what ``reef detect``, ``ls``, ``rm``, ``results`` and ``export`` load).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

from reefnb.common.exceptions import InitError, ManifestError, RecordPending, ReefError
from reefnb.common.units import format_metric
from reefnb.frontends import commands
from reefnb.frontends.arguments import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, options_from
from reefnb.frontends.provision_text import declaration_lines, fingerprint_text, plan_lines
from reefnb.frontends.rendering import TERMINAL_FIELDS, display_columns, format_size, record_text, with_units
from reefnb.runs.spec import RunSpec, SweepSpec

Result = tuple[int, Any]
NO_ENVIRONMENTS = "no environments (create one with `reef env create NAME PKG...`)"
NO_SOLUTIONS = "no solutions initialised (run `reef init FOLDER`)"


def _json(args) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "format", None) == "json")


def _outcome(records: list[dict]) -> int:
    return EXIT_OK if all(record["status"] == "ok" for record in records) else EXIT_RUN_FAILED


def cmd_validate(args, out: TextIO) -> Result:
    try:
        solution = commands.validate(args.path)
    except ManifestError as error:
        if args.json:
            return EXIT_USAGE, {"valid": False, "problems": error.problems}
        raise
    if not args.json:
        print(
            f"{solution.manifest_path}: valid ({solution.name}@{solution.version}, workflows: {', '.join(solution.workflows)})",
            file=out,
        )
    return EXIT_OK, {"valid": True, "problems": [], "name": solution.name, "version": solution.version}


def _shows_progress(args) -> bool:
    return not args.json and sys.stderr.isatty()


def cmd_run(args, out: TextIO) -> Result:
    trust = args.trust or _asked_trust(args, out, args.solution)
    spec = RunSpec.from_arguments(args, parameters=dict(args.parameter))
    # exclusive_process: orphans reparented to this process during the run are the run's
    record = commands.run(spec, resume=args.resume, progress=_shows_progress(args), trust=trust, exclusive_process=True)
    if not args.json:
        print(record_text(record), file=out)
    return _outcome([record]), record


def cmd_sweep(args, out: TextIO) -> Result:
    return _sweep(args, out, workflow=args.workflow, grid=commands.sweep_grid(args.grid, args.parameter))


def cmd_benchmark(args, out: TextIO) -> Result:
    return _sweep(args, out, workflow="benchmark", grid=None)


def _sweep(args, out: TextIO, workflow: str, grid: dict | None) -> Result:
    trust = args.trust or _asked_trust(args, out, args.solution)
    bar = None
    if _shows_progress(args):
        from tqdm import tqdm

        bar = tqdm(total=0, unit="run", desc="sweep", leave=False)

    def on_progress(state) -> None:
        if bar is not None:
            bar.total = state.total - state.skipped
            bar.n = state.done
            bar.set_postfix_str(f"ok {state.ok} failed {state.failed} running {state.running}", refresh=True)

    def on_record(record: dict) -> None:
        if not args.json:
            line = record_text(record, short=True)
            (bar.write(line, file=out) if bar is not None else print(line, file=out, flush=True))

    pending = None
    try:
        spec = SweepSpec.from_arguments(args, workflow=workflow, grid=grid)
        records = commands.sweep(spec, progress=on_progress, on_record=on_record, trust=trust)
    except (
        RecordPending
    ) as error:  # every point ran; some records wait beside the store: the summary, then the one line
        if getattr(error, "records", None) is None:
            raise
        records, pending = error.records, error
    finally:
        if bar is not None:
            bar.close()
    if not args.json:
        failed = sum(record["status"] != "ok" for record in records)
        print(
            f"{len(records)} runs, {len(records) - failed} ok, {failed} not ok, {records.skipped} skipped (recorded ok before)",
            file=out,
        )
        if getattr(records, "moved", None):
            print(records.moved, file=out)
    if pending is not None:
        raise pending
    return _outcome(records), list(records)


def cmd_params(args, out: TextIO) -> Result:
    found = commands.parameters(args.source, args.workflow)
    schema = found.schema
    if not args.json:
        if found.language != "python":
            print(f"{found.notebook}: {schema['$comment']}", file=out)
        if not found.cell:
            print(f"{found.notebook}: no cell tagged 'parameters'", file=out)
        for name, prop in schema["properties"].items():
            rules = ", ".join(
                f"{key} {prop[key]}"
                for key in ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
                if key in prop
            )
            default = json.dumps(prop["default"]) if "default" in prop else found.cell[name].default_source
            line = f"{name:<16} {prop.get('type', 'any'):<8} = {default:<14} {rules}"
            print((line + (f"  # {prop['description']}" if prop.get("description") else "")).rstrip(), file=out)
    return EXIT_OK, schema


def cmd_results(args, out: TextIO) -> Result:
    if args.action:
        return _share_results(args, out)
    query = options_from(commands.ResultsQuery, args)
    if _json(args):
        return EXIT_OK, commands.result_records(query)
    found = commands.results(query)
    frame = found.frame
    if args.format == "csv":
        frame.to_csv(out, index=False)
    elif frame.empty:
        print("no runs recorded" + (f" for {found.solution}" if found.solution else ""), file=out)
    else:
        chosen = args.columns or (None if args.all_columns else found.columns)
        environment = [c for c in frame.columns if str(c).startswith("env.")] if args.all_columns else []
        columns = display_columns(
            frame, chosen, strict=args.columns is not None, fields=TERMINAL_FIELDS, after=["duration_s", *environment]
        )
        table = with_units(frame, columns)
        print(table.to_markdown(index=False) if args.format == "markdown" else table.to_string(index=False), file=out)
    return EXIT_OK, None


def _share_results(args, out: TextIO) -> Result:
    if args.action == "push":
        result = commands.push_results(options_from(commands.PushOptions, args))
        if not args.json:
            files = f", {result['files']} attached files" if args.with_files else ""
            print(
                f"registry {result['registry']}: {result['pushed']} runs shared as {result['contributor']} ({result['already']} were already there){files}",
                file=out,
            )
            for problem in result.get("files_left_out", []):
                print(f"warning: {problem}", file=out)
        return EXIT_OK, result
    result = commands.pull_results(args.solution, args.registry)
    if not args.json:
        refused = f", {len(result['refused'])} files refused (see the warnings)" if result["refused"] else ""
        print(f"{result['records']} shared runs, {result['new']} new here{refused}", file=out)
    return EXIT_OK, result


def cmd_detect(args, out: TextIO) -> Result:
    fingerprint = commands.detect(args.environment, refresh=args.refresh, extra=args.extra)
    if not args.json:
        print(fingerprint_text(fingerprint), file=out)
    return EXIT_OK, fingerprint


def cmd_init(args, out: TextIO) -> Result:
    def on_plan(plan) -> None:
        if not args.json:
            print("\n".join(plan_lines(plan)), file=out, flush=True)

    request = options_from(commands.InitRequest, args)
    now = None if args.json else commands.where_it_runs_now(request)  # before init moves it (commands.run_place)
    if now:
        print(now, file=out, flush=True)
    try:
        done = commands.init(request, on_plan=on_plan, progress=_byte_progress(args))
    except InitError as error:
        if args.json:
            return error.exit_code, {"ok": False, "error": str(error), "plan": error.plan.as_dict()}
        raise
    if not args.json:
        if args.dry_run:
            print("dry run: nothing changed", file=out)
        else:
            environment = done.lock["environment"]
            kernel = f" (kernel {environment['kernel']})" if environment["kernel"] else ""
            print(f"ready: {done.plan.solution.name} in {environment['path']}{kernel}", file=out)
            if now and environment.get("name"):
                print(f"its runs, sweeps and benchmarks run in environment {environment['name']} from now on", file=out)
    return EXIT_OK, done.as_dict()


def _byte_progress(args) -> Callable[[str, int, int | None], None] | None:
    """A download bar per artifact on a terminal."""
    if not _shows_progress(args):
        return None
    from tqdm import tqdm

    bars = {}

    def report(name: str, done: int, total: int | None) -> None:
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(total=total, desc=name, unit="B", unit_scale=True, leave=True)
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    return report


def cmd_env(args, out: TextIO) -> Result:
    if args.env_verb == "create":
        environment = commands.create_environment(
            args.name,
            args.packages,
            python=args.python,
            find_links=args.find_links,
            no_index=args.no_index,
            replace=args.replace,
        )
        text = f"created {environment['name']}: python {environment['python_version']}, kernel {environment['kernel']}, {environment['path']}"
        result: Any = environment
    elif args.env_verb == "remove":
        result = commands.remove_environment(args.name)
        text = f"removed {args.name}"
    else:
        result = commands.list_environments()
        text = "\n".join(environment_lines(result)) or NO_ENVIRONMENTS
    if not args.json:
        print(text, file=out)
    return EXIT_OK, result


def environment_lines(environments: list[dict]) -> list[str]:
    return [
        f"{item['name']:<20} python {item['python_version']:<8} kernel {item['kernel']:<24} {' '.join(item['packages']) or '-'}"
        for item in environments
    ]


def cmd_ls(args, out: TextIO) -> Result:
    solutions = commands.initialised_solutions()
    if not args.json:
        if not solutions:
            print(NO_SOLUTIONS, file=out)
        for entry in solutions:
            size = format_size(entry["environment_bytes"] + entry["solution_bytes"])
            missing = "" if entry["exists"] else "  (folder missing)"
            environment = entry["environment"] or "(native)"
            print(
                f"{entry['name']:<24} {entry['version']:<10} env {environment:<20} {size:>9}  {entry['trust']:<11}  {entry['path']}{missing}",
                file=out,
            )
    return EXIT_OK, solutions


def cmd_find(args, out: TextIO) -> Result:
    entry = commands.find_solution(args.name)
    if not args.json:
        print(entry["path"], file=out)
    return EXIT_OK, entry


def cmd_activate(args, out: TextIO) -> Result:
    result = commands.activation(args.name)
    if not args.json:
        print(result["source"], file=out)
    return EXIT_OK, result


def cmd_rm(args, out: TextIO) -> Result:
    removed = commands.forget_solution(args.name)
    if not args.json:
        what = [f"environment {removed['environment']}"] if removed["environment"] else []
        what += [f"folder {removed['folder']}"] if removed["folder"] else []
        print(f"removed {args.name}" + (f" ({', '.join(what)})" if what else ""), file=out)
    return EXIT_OK, removed


def cmd_require(args, out: TextIO) -> Result:
    return _declared(
        args, out, commands.require(args.packages, notebook=args.notebook, solution=args.solution, remove=args.remove)
    )


def cmd_tool(args, out: TextIO) -> Result:
    return _declared(
        args,
        out,
        commands.require_tools(args.tools, notebook=args.notebook, solution=args.solution, remove=args.remove),
    )


def cmd_artifact(args, out: TextIO) -> Result:
    artifact = options_from(commands.ArtifactDeclaration, args)
    return _declared(args, out, commands.require_artifact(artifact, notebook=args.notebook, solution=args.solution))


def _declared(args, out: TextIO, declaration) -> Result:
    """A declaration is stored even when it is not met here: the lines say so, the exit code stays 0."""
    if not args.json:
        print("\n".join(declaration_lines(declaration)), file=out)
    return EXIT_OK, declaration.as_dict()


def cmd_pareto(args, out: TextIO) -> Result:
    found = commands.pareto(options_from(commands.ParetoOptions, args))
    result = found.as_dict()
    if _json(args):
        return EXIT_OK, result
    if args.format == "csv":
        found.front[found.columns].to_csv(out, index=False)
    else:
        print("\n".join(pareto_lines(found)), file=out)
    if found.plot:
        print(f"plot: {found.plot}", file=out)
    return EXIT_OK, result


def pareto_lines(found: commands.Pareto) -> list[str]:
    """The frontier as a table: numbers in each metric's declared format, units in the headers."""
    runs, columns = found.runs, found.columns
    units = {
        **runs.frame.attrs.get("units", {}),
        **{f"metric.{name}": spec["unit"] for name, spec in runs.metrics.items() if spec.get("unit")},
    }
    table = found.front[columns].copy()
    for column in columns:
        fmt = (
            runs.metrics.get(column.removeprefix("metric."), {}).get("format") if column.startswith("metric.") else None
        )
        if fmt:
            table[column] = [format_metric(value, {"format": fmt}) for value in table[column]]
    table = table.rename(columns={c: f"{c} [{units[c]}]" for c in columns if c in units})
    objectives = ", ".join(
        f"{direction} {column}" + ("" if column in runs.declared else " (assumed: no goal declared)")
        for column, direction in runs.objectives.items()
    )
    return [
        f"{len(found.front)} of {len(runs.frame)} ok runs on the frontier of {objectives}",
        table.to_string(index=False),
    ]


def cmd_dashboard(args, out: TextIO) -> Result:
    result = commands.dashboard(args.solution, args.output, args.minimise, args.maximise)
    if not args.json:
        print(f"dashboard: {result['path']} ({result['runs']} runs)", file=out)
    return EXIT_OK, result


def cmd_export(args, out: TextIO) -> Result:
    if args.source is None:
        raise ReefError("reef export: give the NOTEBOOK or SOLUTION to export")
    summary = commands.export(options_from(commands.ExportOptions, args, external=dict(args.external)))
    warnings = summary["warnings"]
    if not args.json:
        for warning in warnings:
            print(f"warning: {warning}", file=out)
        print(
            f"{summary['package']}: {summary['solution']}, {len(summary['members'])} files, {len(summary['runs'])} runs, "
            f"{len(summary['expected'])} expected results (sha256 {summary['sha256'][:12]})",
            file=out,
        )
        if warnings:
            print(f"exported with {len(warnings)} warning{'s' if len(warnings) != 1 else ''}", file=out)
    return (EXIT_RUN_FAILED if warnings and args.strict else EXIT_OK), summary


def cmd_import(args, out: TextIO) -> Result:
    result = commands.import_package(args.package, args.output)
    if not args.json:
        print(f"{args.package}: verified and extracted into {result['folder']} (nothing was run)", file=out)
    return EXIT_OK, result


def cmd_reproduce(args, out: TextIO) -> Result:
    from reefnb.analysis.reproduce import REPRODUCED  # papermill: only the verbs that run notebooks load it
    from reefnb.frontends.reproduce_text import report_lines

    trust = args.trust or _asked_trust(args, out, args.source, packages=True)

    def on_plan(plan) -> None:
        if not args.json:
            print("\n".join(plan_lines(plan)), file=out, flush=True)

    report = commands.reproduce(
        options_from(commands.ReproduceOptions, args, trust=trust, artifacts=dict(args.artifacts)), on_plan=on_plan
    )
    if not args.json:
        print("\n".join(report_lines(report)), file=out)
    return (EXIT_OK if report["verdict"] == REPRODUCED else EXIT_RUN_FAILED), report


def cmd_mlperf(args, out: TextIO) -> Result:
    from reefnb.sharing.mlperf import SubmissionOptions

    trust = args.trust or _asked_trust(args, out, args.solution)
    options = options_from(SubmissionOptions, args, trust=trust, parameters=dict(args.parameter))
    result = commands.mlperf_submission(options)
    if not args.json:
        for scenario in result["scenarios"]:
            how = "reused" if scenario["reused"] else "run now"
            print(
                f"{scenario['scenario']}: performance {scenario['performance_run']}, accuracy {scenario['accuracy_run']} ({how})",
                file=out,
            )
            for test in scenario.get("compliance", []):
                print(
                    f"{scenario['scenario']}: {test['test']} {test['run']} ({'reused' if test['reused'] else 'run now'}), verified: TEST PASS",
                    file=out,
                )
        mapped = f" (stands for {result['official_benchmark']})" if result["official_benchmark"] else ""
        print(
            f"{result['output']}: {result['division']}/{result['submitter']}, {result['benchmark']}{mapped}, MLPerf {result['round']}, "
            f"{result['profile']} profile, {len(result['files'])} files (record {result['record']})",
            file=out,
        )
        if result["expected_failures"]:
            print(
                f"the tree fails the checker's {', '.join(result['expected_failures'])} (README.md of each scenario says why)",
                file=out,
            )
    return EXIT_OK, result


def _asked_trust(args, out: TextIO, source, what: str = "notebooks", packages: bool = False) -> bool:
    """A package's code (``packages``: the verb takes a package file), or a folder made from one whose trust was not
    recorded, is code from elsewhere: on a terminal, ask before running it (no, or Ctrl-D: nothing runs); elsewhere
    the verb refuses it without --trust."""
    if not source or not sys.stdin.isatty() or _json(args):
        return False
    shown = source if packages and commands.is_package(source) else commands.untrusted_folder(source)
    if shown is None:
        return False
    try:
        answer = input(f"{shown}: run its {what} on this machine? They are code from elsewhere [y/N] ")
    except EOFError:  # Ctrl-D, or a closed terminal: no
        answer = ""
        print(file=out)
    if answer.strip().lower() not in ("y", "yes"):
        raise ReefError(f"{shown}: not trusted; nothing was run")
    return True


def cmd_registry(args, out: TextIO) -> Result:
    if args.registry_verb == "add":
        result = commands.add_registry(args.name, args.url)
        text = f"added registry {result['name']}: {result['url']} (clone: {result['path']})"
    elif args.registry_verb == "remove":
        result = commands.remove_registry(args.name)
        text = f"removed registry {result['name']} ({result['url']}); the registry itself is untouched"
    elif args.registry_verb == "configure":
        result = commands.configure_registry(args.name, dict(args.signer), args.remove_signer, args.require_signatures)
        listed = ", ".join(signer["identity"] for signer in result["signers"]) or "none"
        text = (
            f"registry {result['registry']}: signers {listed}; signatures "
            f"{'required' if result['require_signatures'] else 'not required'}{'' if result['changed'] else ' (unchanged)'}"
        )
    elif args.registry_verb == "forget":
        result = commands.forget_pin(args.spec, args.registry, signers=args.signers)
        text = "\n".join(f"registry {entry['registry']}: forgot the pin of {entry['forgot']}" for entry in result)
    else:
        result = commands.list_registries()
        text = (
            "\n".join(f"{entry['name']:<16} {entry['components']:>4} components  {entry['url']}" for entry in result)
            or "no registries (add one with `reef registry add NAME URL`)"
        )
    if not args.json:
        print(text, file=out)
    return EXIT_OK, result


def cmd_publish(args, out: TextIO) -> Result:
    result = commands.publish(args.package, args.registry, sign=args.sign)
    if not args.json:
        what = "published" if result["published"] else "already published with the same bytes: nothing to do"
        what += f", signed by {result['signer']}" if result["signer"] else ", signed" if result["signed"] else ""
        print(
            f"{result['name']}@{result['version']} ({result['kind']}, sha256 {result['sha256'][:12]}) in registry {result['registry']}: {what}",
            file=out,
        )
    return EXIT_OK, result


def cmd_search(args, out: TextIO) -> Result:
    found = commands.search(args.text, args.registry)
    if not args.json:
        for entry in found:
            print(
                f"{entry['name']:<24} {entry['latest']:<10} {entry['kind']:<8} {entry['registry']:<12} {entry['description']}".rstrip(),
                file=out,
            )
        if not found:
            print("nothing found" + (f" for '{args.text}'" if args.text else ""), file=out)
    return EXIT_OK, found


def cmd_pull(args, out: TextIO) -> Result:
    result = commands.pull(
        args.spec, args.registry, output=args.output, dry_run=args.dry_run, allow_downgrade=args.allow_downgrade
    )
    if not args.json:
        for entry in result["components"]:
            where = entry.get("folder") or "(dry run: not fetched)"
            signed = f", signed by {entry['signer']}" if entry.get("signer") else ""
            print(
                f"{entry['name']}@{entry['version']} from {entry['registry']} (sha256 {entry['sha256'][:12]}{signed}): {where}",
                file=out,
            )
    return EXIT_OK, result


def cmd_serve(args, out: TextIO) -> Result:
    from reefnb.frontends.serve import ServeOptions, serve  # tornado: only `reef serve` loads it

    options = ServeOptions(
        host=args.host,
        port=args.port,
        token=args.token,
        workers=args.workers,
        environment=args.environment,
        trust=args.trust or _asked_trust(args, out, args.solution, "actions", packages=True),
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        action_timeout=args.action_timeout,
    )
    logging.getLogger("reefnb.frontends.serve").setLevel(logging.INFO)
    logging.getLogger("reefnb.actions.api").setLevel(logging.INFO)
    ready = {}

    def on_ready(info: dict) -> None:
        ready.update(info)
        if args.json:
            print(json.dumps(info), file=out, flush=True)
            return
        print(
            f"serving {info['solution']} ({', '.join(info['actions'])}) on {info['url']} with {info['workers']} worker(s)",
            file=out,
        )
        print(f"token: {info['token']}", file=out)
        if info["demo"]:
            print(f"demo: {info['demo']}", file=out)
        print(f"try: curl -H 'Authorization: Bearer {info['token']}' {info['url']}/v1/actions", file=out, flush=True)

    serve(args.solution, options, on_ready)
    args.json = False  # the ready line was the JSON
    return EXIT_OK, ready


COMMANDS: dict[str, Callable[[Any, TextIO], Result]] = {
    "validate": cmd_validate,
    "run": cmd_run,
    "sweep": cmd_sweep,
    "benchmark": cmd_benchmark,
    "results": cmd_results,
    "params": cmd_params,
    "detect": cmd_detect,
    "init": cmd_init,
    "env": cmd_env,
    "ls": cmd_ls,
    "find": cmd_find,
    "activate": cmd_activate,
    "rm": cmd_rm,
    "require": cmd_require,
    "tool": cmd_tool,
    "artifact": cmd_artifact,
    "pareto": cmd_pareto,
    "dashboard": cmd_dashboard,
    "export": cmd_export,
    "import": cmd_import,
    "reproduce": cmd_reproduce,
    "mlperf": cmd_mlperf,
    "registry": cmd_registry,
    "publish": cmd_publish,
    "search": cmd_search,
    "pull": cmd_pull,
    "serve": cmd_serve,
}


def run_verb(args, out: TextIO) -> int:
    """Run the parsed verb: print its text, or its result as JSON with ``--json``; the exit code."""
    code, result = COMMANDS[args.verb](args, out)
    if _json(args):
        json.dump(result, out, indent=2, sort_keys=False, default=str)
        print(file=out)
    return code

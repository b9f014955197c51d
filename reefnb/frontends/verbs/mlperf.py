"""mlperf submission: an MLPerf Inference submission tree from a solution's LoadGen runs
(``reefnb.sharing.mlperf``)."""

from __future__ import annotations

import argparse
from typing import TextIO

from reefnb.frontends import commands
from reefnb.frontends.arguments import TRUST_FOLDER_HELP, actions_of, options_from, parameter_option, with_json
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb


def mlperf_arguments(mlperf: argparse.ArgumentParser) -> None:
    actions = actions_of(mlperf, "mlperf_verb")
    submission = actions.add_parser(
        "submission",
        help="reuse or run each scenario's LoadGen performance and accuracy runs, then write the submission tree "
        "(docs/mlperf.md)",
    )
    submission.add_argument(
        "solution", metavar="SOLUTION", help="a solution folder (or its solution.json) that declares an mlperf object"
    )
    submission.add_argument("-o", "--output", required=True, metavar="DIR", help="the tree's folder (new or empty)")
    submission.add_argument(
        "--submitter", required=True, metavar="NAME", help="the submitting organisation (a plain name)"
    )
    submission.add_argument(
        "--division", choices=["open", "closed"], default="open", help="open (default; closed is not yet supported)"
    )
    submission.add_argument(
        "--system",
        metavar="FILE.json",
        help="the system description's fields only a person knows (status, system_type, cooling...)",
    )
    submission.add_argument(
        "--scenario",
        dest="scenarios",
        nargs="+",
        action="extend",
        default=[],
        metavar="S",
        help="LoadGen scenarios (default: the workflow's)",
    )
    submission.add_argument(
        "--short",
        action="store_true",
        help="LoadGen's short profile: seconds, not 10 minutes; the checker then fails test duration",
    )
    parameter_option(
        submission,
        "a workflow parameter other than the scenario, mode and profile (model, backend, dataset...; repeatable)",
    )
    targets = submission.add_mutually_exclusive_group()
    targets.add_argument(
        "--env", dest="environment", metavar="NAME", help="run missing runs in this reef environment's kernel"
    )
    targets.add_argument("--kernel", help="run missing runs in this Jupyter kernel")
    submission.add_argument("--trust", action="store_true", help=TRUST_FOLDER_HELP)
    with_json(actions)


def mlperf(args: Arguments, front: FrontEnd) -> dict:
    from reefnb.sharing.mlperf import SubmissionOptions

    trust = front.trusts(args, args.solution)
    return commands.mlperf_submission(
        options_from(SubmissionOptions, args, trust=trust, parameters=dict(args.parameter))
    )


def mlperf_text(result: dict, args: Arguments, out: TextIO) -> None:
    for scenario in result["scenarios"]:
        name = scenario["scenario"]
        how = "reused" if scenario["reused"] else "run now"
        print(
            f"{name}: performance {scenario['performance_run']}, accuracy {scenario['accuracy_run']} ({how})",
            file=out,
        )
        for test in scenario.get("compliance", []):
            how = "reused" if test["reused"] else "run now"
            print(f"{name}: {test['test']} {test['run']} ({how}), verified: TEST PASS", file=out)
    mapped = f" (stands for {result['official_benchmark']})" if result["official_benchmark"] else ""
    print(
        f"{result['output']}: {result['division']}/{result['submitter']}, {result['benchmark']}{mapped}, "
        f"MLPerf {result['round']}, {result['profile']} profile, {len(result['files'])} files "
        f"(record {result['record']})",
        file=out,
    )
    if result["expected_failures"]:
        print(
            f"the tree fails the checker's {', '.join(result['expected_failures'])} "
            "(README.md of each scenario says why)",
            file=out,
        )


MLPERF = Verb(
    "mlperf",
    "MLPerf Inference: build a submission tree the round's checker reads",
    mlperf_arguments,
    mlperf,
    mlperf_text,
)

VERBS = (MLPERF,)

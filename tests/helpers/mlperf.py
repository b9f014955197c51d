"""MLPerf submissions in tests: the Inference submission checker (v6.1, in ../shared/mlperf-inference-tools) run in
its own process, and what a test built."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.solutions import REPO

TOOLS = REPO.parent / "shared" / "mlperf-inference-tools" / "tools"
CHECKER = """
import json, logging, sys
from submission.submission_checker.configuration.configuration import Config
from submission.submission_checker.loader import Loader
from submission.submission_checker.checks.compliance_check import ComplianceCheck
errors = []
class Keep(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.ERROR:
            errors.append(record.getMessage())
log = logging.getLogger("reef-test")
log.addHandler(Keep())
log.setLevel(logging.INFO)
config = Config("v6.1", None)
config.base["models_TEST04"] = [*config.base["models_TEST04"], *sys.argv[2:]]  # benchmarks a test says need TEST04 too
out = []
for logs in Loader(sys.argv[1], "v6.1", config).load():
    check = ComplianceCheck(log, logs.loader_data["compliance_path"], config, logs)
    names = ("dir_exists_check", "accuracy_check", "compliance_performance_check", "performance_check")
    results = {name: bool(getattr(check, name)()) for name in names}
    out.append({"tests": check.test_list, "results": results, "errors": errors})
print(json.dumps(out))
"""


def checker_compliance(tree: Path, *also_test04: str) -> dict:
    """The v6.1 checker's ComplianceCheck on the tree's one result: its tests, each check's result and the errors it
    logged (``also_test04``: benchmarks it is told need TEST04 too, in its process only)."""
    command = [sys.executable, "-c", CHECKER, str(tree), *also_test04]
    done = subprocess.run(command, cwd=TOOLS, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    (checked,) = json.loads(done.stdout.strip().splitlines()[-1])
    return checked


@dataclass
class Built:
    """A submission tree ``reef mlperf submission`` wrote in a test: the solution's copy, the tree, the command's
    JSON, how long it took and the variables (REEF_HOME...) it ran with."""

    folder: Path  # the copy of the solution
    output: Path  # the tree
    result: dict
    seconds: float
    variables: dict[str, str]

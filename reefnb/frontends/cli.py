"""The ``reef`` command: parse the verb (``reefnb.frontends.verbs.build_parser``, the parser the ``%reef`` magic
shares), run it through the command layer, print its text or JSON (``reefnb.frontends.terminal``), and turn a
``ReefError`` into one line and its exit code.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from reefnb.common.exceptions import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ManifestError, ReefError, UsageError
from reefnb.common.version import __version__
from reefnb.frontends.terminal import run_verb
from reefnb.frontends.verbs import build_parser

__all__ = ["UsageError", "build_parser", "main"]

QUIETED = ("papermill", "traitlets", "nbclient")  # their chatter while a kernel runs is not the user's business


def _abandoned_cell_task(record: logging.LogRecord) -> bool:
    """Drop asyncio's "Task exception was never retrieved" for a cell whose kernel was stopped under it
    (Ctrl-C, a timeout): the run's outcome is reported once, as one line, not as a traceback."""
    exception = record.exc_info[1] if record.exc_info else None
    return not (
        exception is not None and type(exception).__name__ in ("DeadKernelError", "CancelledError", "KeyboardInterrupt")
    )


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``reef ARGS``: the exit code. Quiets papermill, traitlets and nbclient while it runs and puts their
    levels back after, so a process that calls it (a kernel, a test) keeps its own logging."""
    out = out or sys.stdout
    err = err or sys.stderr
    logging.basicConfig(level=logging.WARNING, format="reef: %(levelname)s: %(message)s", stream=err)
    levels = {name: logging.getLogger(name).level for name in QUIETED}
    for name in levels:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").addFilter(_abandoned_cell_task)
    try:
        return _main(argv, out, err)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger("asyncio").removeFilter(_abandoned_cell_task)


def _main(argv: list[str] | None, out: TextIO, err: TextIO) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.version:
            print(f"reefnb {__version__}", file=out)
            return EXIT_OK
        if not args.verb:
            parser.print_help(out)
            return EXIT_USAGE
        # jsonschema's format checker imports, when installed, a package per format at `import jsonschema`:
        # rfc3987_syntax alone compiles 38 lark grammars (1-2 s), the others 0.1-0.3 s together, in every reef process
        # that validates a manifest or reads a notebook. reef validates with no FormatChecker (nor does nbformat), so
        # its own process goes without them: jsonschema then leaves those formats unchecked, as when they are absent.
        from reefnb.common.json_input import without_format_checkers

        without_format_checkers()
        return run_verb(args, out)
    except ManifestError as error:
        for line in error.problems:
            print(line, file=err)
        return error.exit_code
    except ReefError as error:
        print(f"reef: error: {error}", file=err)
        return error.exit_code
    except KeyboardInterrupt:
        print("reef: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `reef results | head`: the reader left, nothing to report
        sys.stderr = open(os.devnull, "w")
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

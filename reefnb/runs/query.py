"""Filters on recorded runs, compiled to SQL: ``--where`` expressions, ``--since`` times, solution and status.

A ``where`` expression is written in Python syntax and never evaluated: it is parsed with ``ast`` and only
these forms are translated, each into SQL with bound arguments:

- ``FIELD OP CONSTANT`` (or ``CONSTANT OP FIELD``), OP one of ``== != < <= > >=``; ``FIELD in (C1, C2)``,
  ``FIELD not in [...]``; ``== None`` / ``!= None`` test for a missing value;
- ``and``, ``or``, ``not`` and parentheses.

FIELD is ``param.NAME``, ``metric.NAME`` (``param["odd name"]`` for names that are not identifiers), one of
``run_id solution version workflow status started ended duration_s error``, or ``env.NAME`` for the
environment columns of the results frame (``env.name``, ``env.hostname``, ``env.cpu``...), or ``sys.NAME``
for what the run's processes did (``sys.peak_rss_mb``, ``sys.cpu_seconds``...; reefnb.runs.telemetry).
Example: ``param.backend == "tflite" and metric.time_ms < 5``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from reefnb.common.exceptions import QueryError

MAX_EXPRESSION = 2000  # characters; a filter is a line, not a program
MAX_DEPTH = 40  # nested and/or/not (SQLite's parser has a small stack)
OPERATORS = {ast.Eq: "=", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
FLIPPED = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}
RUN_FIELDS = ("run_id", "workflow", "status", "started", "ended", "duration_s", "error")
# frame columns that live in a shared document: (runs' column, SQL on the document's JSON ``body``)
DOCUMENT_FIELDS = {
    "version": ("solution", "json_extract(body, '$.version')"),
    "env.name": ("environment", "json_extract(body, '$.name')"),
    "env.kernel": ("environment", "json_extract(body, '$.kernel')"),
    "env.hostname": ("environment", "json_extract(body, '$.hostname')"),
    "env.os": ("environment", "json_extract(body, '$.os.platform')"),
    "env.cpu": ("environment", "json_extract(body, '$.cpu.model')"),
    "env.cpu_count": ("environment", "json_extract(body, '$.cpu.count')"),
    "env.memory_gb": ("environment", "round(json_extract(body, '$.memory_bytes') / 1073741824.0, 1)"),
    "env.python": ("environment", "json_extract(body, '$.python.version')"),
    "env.contributor": ("origin", "json_extract(body, '$.contributor')"),
}
RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|h|d|w)$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def exact_number(value: int) -> int | float | str:
    """An integer as a cell of the store (and the results frame) keeps it: itself within SQLite's 64 bits, the float
    when that is the same number (2**70), else its digits as text (10**400 and 2**64 + 1, which a float cannot hold).
    The record keeps the integer itself."""
    if -(2**63) <= value < 2**63:
        return value
    try:
        if float(value) == value:
            return float(value)
    except OverflowError:
        pass
    return str(value)


@dataclass(frozen=True)
class Query:
    """Which runs: of one solution, of one status, matching ``where``, started at or after ``since``."""

    solution: str | None = None
    status: str | None = None
    where: str | None = None
    since: str | None = None


def since_timestamp(since: str, now: datetime | None = None) -> str:
    """``since`` (an ISO date or time, UTC unless it says otherwise, or an age: ``90m``, ``12h``, ``7d``, ``2w``)
    as the ISO text recorded runs' start times compare with."""
    text = since.strip()
    match = RELATIVE.match(text)
    try:
        if match:
            moment = (now or datetime.now(timezone.utc)) - timedelta(**{UNITS[match[2]]: float(match[1])})
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise QueryError(
            f"since '{since[:80]}': not an ISO date/time (2026-01-31, 2026-01-31T12:00) or an age (90m, 12h, 7d, 2w)"
        ) from None
    return moment.astimezone(timezone.utc).isoformat()


def compile_filter(query: Query, solution: int, cells: dict[tuple[str, str], str]) -> tuple[str, list]:
    """SQL for the runs of solution id ``solution`` that match ``query`` (runs are ``r``), and its arguments.

    ``cells`` maps (kind, name) to the SQL of that parameter's or metric's column for this solution.
    """
    clauses, arguments = ["r.solution_id = ?"], [solution]
    if query.status is not None:
        clauses.append("r.status = ?")
        arguments.append(query.status)
    if query.since is not None:
        clauses.append("r.started >= ?")
        arguments.append(since_timestamp(query.since))
    if query.where:
        sql, args = _Translator(query.where, cells).translate()
        clauses.append(f"({sql})")
        arguments += args
    return " AND ".join(clauses), arguments


def parse_where(where: str) -> ast.expr:
    """The expression's syntax tree; QueryError for what is not a filter."""
    if len(where) > MAX_EXPRESSION:
        raise QueryError(f"where: longer than {MAX_EXPRESSION} characters")
    try:
        return ast.parse(where.strip(), mode="eval").body
    except SyntaxError as error:
        raise QueryError(f"where '{where[:80]}': not an expression ({error.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise QueryError(f"where '{where[:80]}': too deeply nested") from None


class _Translator:
    def __init__(self, where: str, cells: dict[tuple[str, str], str]):
        self.where, self.cells, self.arguments = where, cells, []

    def translate(self) -> tuple[str, list]:
        try:
            return self._node(parse_where(self.where), 0), self.arguments
        except RecursionError:
            raise QueryError(f"where '{self.where[:80]}': too deeply nested") from None

    def _fail(self, node: ast.AST, message: str) -> QueryError:
        return QueryError(f"where '{self.where[:80]}': {message} at '{ast.unparse(node)[:60]}'")

    def _node(self, node: ast.AST, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise QueryError(
                f"where '{self.where[:80]}': too deeply nested (more than {MAX_DEPTH} levels of and/or/not)"
            )
        if isinstance(node, ast.BoolOp):
            joiner = " AND " if isinstance(node.op, ast.And) else " OR "
            return "(" + joiner.join(self._node(value, depth + 1) for value in node.values) + ")"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(NOT {self._node(node.operand, depth + 1)})"
        if isinstance(node, ast.Compare):
            parts, left = [], node.left
            for operator, right in zip(node.ops, node.comparators, strict=True):  # a < b < c is a < b and b < c
                parts.append(self._comparison(left, operator, right))
                left = right
            return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"
        raise self._fail(node, "expected a comparison (==, !=, <, <=, >, >=, in), and, or, not")

    def _comparison(self, left: ast.AST, operator: ast.cmpop, right: ast.AST) -> str:
        if isinstance(operator, (ast.In, ast.NotIn)):
            values = self._constants(right)
            field = self._field(left)
            marks = ", ".join("?" * len(values))
            return self._test(field, f"{'NOT ' if isinstance(operator, ast.NotIn) else ''}IN ({marks})", values)
        if type(operator) not in OPERATORS:
            raise self._fail(left, "unsupported operator")
        if self._is_field(right) and not self._is_field(left):
            left, right, operator = right, left, FLIPPED[type(operator)]()
        field, value = self._field(left), self._constant(right)
        if value is None:
            if not isinstance(operator, (ast.Eq, ast.NotEq)):
                raise self._fail(right, "None compares only with == or !=")
            return self._test(field, "IS NULL" if isinstance(operator, ast.Eq) else "IS NOT NULL", [])
        return self._test(field, f"{OPERATORS[type(operator)]} ?", [value])

    def _test(self, field: tuple[str, str | None, str], operation: str, values: list) -> str:
        sql, column, table = field
        self.arguments += values
        if column is None:
            return f"{sql} {operation}"
        return f"r.{column} IN (SELECT id FROM {table} WHERE {sql} {operation})"

    def _is_field(self, node: ast.AST) -> bool:
        return isinstance(node, (ast.Name, ast.Attribute, ast.Subscript))

    def _field(self, node: ast.AST) -> tuple[str, str | None, str]:
        """SQL for a field; for one that lives in another table, the runs' column that refers to it, and that table."""
        name = self._field_name(node)
        if name in RUN_FIELDS:
            return f"r.{name}", None, ""
        if name == "solution":
            return "name", "solution_id", "solutions"
        if name in DOCUMENT_FIELDS:
            column, sql = DOCUMENT_FIELDS[name]
            return sql, column, "documents"
        kind, _, key = name.partition(".")
        if kind in ("param", "metric", "sys") and key:
            return self.cells.get((kind, key), "NULL"), None, ""
        raise self._fail(
            node,
            f"unknown field '{name}' (param.NAME, metric.NAME, sys.NAME, env.NAME, {', '.join(RUN_FIELDS)}, "
            "solution, version)",
        )

    def _field_name(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            return f"{node.value.id}.{node.slice.value}"
        raise self._fail(node, "expected a field (param.NAME, metric.NAME, status...) compared with a constant")

    def _constant(self, node: ast.AST):
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
        ):
            value = node.operand.value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return self._constant(ast.Constant(-value if isinstance(node.op, ast.USub) else value))
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float))):
            value = node.value
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int):
                return exact_number(value)  # as the cells keep it, so that == finds 2**64 + 1 exactly
            return value
        raise self._fail(node, "expected a constant (a number, a string in quotes, True, False or None)")

    def _constants(self, node: ast.AST) -> list:
        if not isinstance(node, (ast.Tuple, ast.List, ast.Set)) or not node.elts:
            raise self._fail(node, "'in' takes a non-empty list of constants")
        values = [self._constant(element) for element in node.elts]
        if any(value is None for value in values):
            raise self._fail(node, "'in' takes no None (use == None)")
        return values

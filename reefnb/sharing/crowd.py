"""Shared run records in a registry: sharded per solution and month, each shard a few compacted Parquet parts.

Layout inside a registry clone::

    results/SOLUTION/YYYY-MM/part-DIGEST.parquet   columns run_id, record (the record's JSON, environment null),
                                                 environment (the environment's JSON, dictionary-encoded: a
                                                 fingerprint shared by many runs is stored and parsed once)
    results/SOLUTION/RUN_ID.json                   the first layout (one file per run): still read, never written

A push adds one part to each shard it touches (named by the sha256 of its bytes, so two pushers never write
the same file); a shard that would hold more than ``MAX_PARTS`` parts is compacted into one. A pull reads
the run ids first and parses only the records the local store does not have yet. Nothing here is trusted:
each part is bounded in size, every JSON text goes through the bounded reader and the run-record schema,
and a part that cannot be read is skipped with a warning naming it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import InputError, ShardError
from reefnb.common.files import write_bytes_atomically
from reefnb.common.json_input import parse_json, read_json
from reefnb.solution.manifest import schema

log = logging.getLogger(__name__)

RESULTS_FOLDER = "results"
PART_PREFIX, PART_SUFFIX = "part-", ".parquet"
MAX_PARTS = 8  # parts in a shard before a push compacts it into one
MAX_PART_BYTES = 512 * 1024 * 1024  # a part's size on disk
MAX_PART_UNCOMPRESSED = 4 * 1024 * 1024 * 1024  # its columns' size once decompressed (a small file may inflate)
MAX_RECORD_BYTES = 4 * 1024 * 1024  # one record's or environment's JSON text
COLUMNS = ("run_id", "record", "environment")
_SOLUTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
UNDATED = "undated"


def shard_of(record: dict) -> str:
    """``results/SOLUTION/YYYY-MM``: where a shared record goes (by its solution and the month it started)."""
    solution = (record.get("solution") or {}).get("name")
    if not isinstance(solution, str) or not _SOLUTION.fullmatch(solution) or ".." in solution:
        raise InputError(
            "run record", "/solution/name", f"not a name a registry folder can have (run {record.get('run_id')})"
        )
    started = record.get("started")
    month = started[:7] if isinstance(started, str) and _MONTH.fullmatch(started[:7]) else UNDATED
    return f"{RESULTS_FOLDER}/{solution}/{month}"


def _parts(folder: Path, shard: str) -> list[Path]:
    return sorted((folder / shard).glob(f"{PART_PREFIX}*{PART_SUFFIX}"))


# --- writing --------------------------------------------------------------------------------------


def write_shards(folder: Path, records: Iterable[dict]) -> tuple[list[str], int]:
    """Add the records whose run id the registry in ``folder`` lacks; returns (paths changed, records written).

    Each shard touched gets one new part, or is compacted with it into one part when it has ``MAX_PARTS``.
    """
    by_shard: dict[str, dict[str, dict]] = {}
    for record in records:
        by_shard.setdefault(shard_of(record), {})[record["run_id"]] = record
    changed, written = [], 0
    for shard, wanted in sorted(by_shard.items()):
        present = _present_run_ids(folder, shard)
        new = [wanted[run_id] for run_id in sorted(wanted) if run_id not in present]
        if not new:
            continue
        changed += _add_part(folder, shard, _table(new))
        written += len(new)
    return changed, written


def _present_run_ids(folder: Path, shard: str) -> set[str]:
    """Run ids a shard already holds: in its parts, and as files of the first layout in its solution's folder."""
    import pyarrow.parquet as parquet

    present = {path.stem for path in (folder / shard).parent.glob("*.json")}
    for path in _parts(folder, shard):
        try:
            present.update(parquet.read_table(path, columns=["run_id"]).column(0).to_pylist())
        except Exception as error:  # noqa: BLE001 - a damaged part is left alone (a pull skips it with a warning)
            log.warning(
                "%s: not readable as a results part (%s); its runs may be pushed again",
                path.relative_to(folder).as_posix(),
                error,
            )
    return present


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _table(records: list[dict]):
    import pyarrow

    return pyarrow.table(
        {
            "run_id": pyarrow.array([record["run_id"] for record in records], pyarrow.string()),
            "record": pyarrow.array(
                [_json_text({**record, "environment": None}) for record in records], pyarrow.string()
            ),
            "environment": pyarrow.array([_json_text(record["environment"]) for record in records], pyarrow.string()),
        }
    )


def _add_part(folder: Path, shard: str, table) -> list[str]:
    """Write ``table`` as a new part of ``shard`` (compacting the shard when it is full); returns the paths changed."""
    import pyarrow
    import pyarrow.parquet as parquet

    old = _parts(folder, shard)
    removed = []
    if len(old) >= MAX_PARTS:
        tables = [table]
        for path in old:
            try:
                tables.append(parquet.read_table(path, columns=list(COLUMNS)).cast(table.schema))
                removed.append(path)
            except Exception as error:  # noqa: BLE001 - a damaged part is kept as it is, not folded in
                log.warning(
                    "%s: not readable as a results part (%s); left out of the compaction",
                    path.relative_to(folder).as_posix(),
                    error,
                )
        merged = pyarrow.concat_tables(tables)
        table = merged.take(pyarrow.compute.sort_indices(merged, [("run_id", "ascending")]))
    sink = pyarrow.BufferOutputStream()
    parquet.write_table(table, sink, compression="zstd", use_dictionary=["environment"], row_group_size=50_000)
    content = sink.getvalue().to_pybytes()
    target = folder / shard / f"{PART_PREFIX}{hashlib.sha256(content).hexdigest()[:24]}{PART_SUFFIX}"
    write_bytes_atomically(target, content)
    for path in removed:
        if path != target:
            path.unlink()
    return sorted({path.relative_to(folder).as_posix() for path in (target, *removed)})


# --- reading --------------------------------------------------------------------------------------


@functools.cache
def _validators():
    """The run-record schema split in two: the record without its environment, and the environment alone."""
    import jsonschema

    whole = schema("run-record")
    outer = copy.deepcopy(whole)
    outer["properties"]["environment"] = {}
    environment = {"$schema": whole.get("$schema"), **whole["properties"]["environment"]}
    return jsonschema.Draft202012Validator(outer), jsonschema.Draft202012Validator(environment)


def _problem(validator, instance: Any, prefix: str = "") -> str | None:
    error = next(iter(validator.iter_errors(instance)), None)
    if error is None:
        return None
    pointer = prefix + "".join(f"/{part}" for part in error.absolute_path)
    return (
        f"{pointer or '/'}: {error.validator} "
        f"{error.validator_value if error.validator != 'required' else error.message}"
    )[:300]


def read_results(
    folder: Path, registry: str, solution: str | None, known: Callable[[list[str]], set[str]]
) -> tuple[list[dict], list[str], int]:
    """The shared records of a registry clone that ``known`` lacks, the paths refused, and how many run ids were seen.

    ``known(run_ids)`` says which run ids are already in the local store; their records are not parsed.
    A refused path is a part or file of the first layout (skipped whole), or ``PART#RUN_ID`` for one record.
    """
    results = folder / RESULTS_FOLDER
    if solution is not None and not _SOLUTION.fullmatch(solution):
        return [], [], 0
    solutions = (
        [solution]
        if solution
        else sorted(path.name for path in results.iterdir() if path.is_dir())
        if results.is_dir()
        else []
    )
    records: list[dict] = []
    refused: list[str] = []
    seen = [0]

    def counted(run_ids: list[str]) -> set[str]:
        seen[0] += len(run_ids)
        return known(run_ids)

    for name in solutions:
        for path in sorted((results / name).glob(f"*/{PART_PREFIX}*{PART_SUFFIX}")):
            relative = path.relative_to(folder).as_posix()
            try:
                found, bad = _read_part(path, relative, counted)
            except ShardError as error:
                log.warning("registry %s: %s: not a results part (%s); skipped", registry, relative, error)
                refused.append(relative)
                continue
            for run_id, reason in bad:
                log.warning(
                    "registry %s: %s: run %s: not a shared run record (%s); skipped", registry, relative, run_id, reason
                )
                refused.append(f"{relative}#{run_id}")
            records += found
        found, bad = _read_files(sorted((results / name).glob("*.json")), folder, counted)
        for relative, reason in bad:
            log.warning("registry %s: %s: not a shared run record (%s); skipped", registry, relative, reason)
            refused.append(relative)
        records += found
    return records, refused, seen[0]


def _read_part(
    path: Path, relative: str, known: Callable[[list[str]], set[str]]
) -> tuple[list[dict], list[tuple[str, str]]]:
    """The new records of one part, and (run id, reason) for each
    record refused; ShardError when the part is unreadable."""
    import pyarrow
    import pyarrow.parquet as parquet

    try:
        with open(
            os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb"
        ) as stream:  # a link is refused, not followed
            status = os.fstat(stream.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise ShardError("not a regular file")
            if status.st_size > MAX_PART_BYTES:
                raise ShardError(f"larger than the limit of {MAX_PART_BYTES} bytes")
            return _read_open_part(parquet.ParquetFile(stream, read_dictionary=["environment"]), relative, known)
    except KeyError:  # a column named for the dictionary is missing
        raise ShardError(f"its columns are not {', '.join(COLUMNS)} (strings)") from None
    except OSError as error:
        raise ShardError(error.strerror or str(error).splitlines()[0][:200]) from None
    except (pyarrow.ArrowException, ValueError, TypeError) as error:
        raise ShardError(str(error).splitlines()[0][:200] if str(error) else type(error).__name__) from None


def _read_open_part(
    part, relative: str, known: Callable[[list[str]], set[str]]
) -> tuple[list[dict], list[tuple[str, str]]]:
    import pyarrow

    """The new records of an opened part (see ``_read_part``)."""
    types = [part.schema_arrow.field(name).type for name in part.schema_arrow.names]
    types = [kind.value_type if pyarrow.types.is_dictionary(kind) else kind for kind in types]
    if tuple(part.schema_arrow.names) != COLUMNS or not all(pyarrow.types.is_string(kind) for kind in types):
        raise ShardError(f"its columns are not {', '.join(COLUMNS)} (strings)")
    metadata = part.metadata
    if (
        sum(metadata.row_group(index).total_byte_size for index in range(metadata.num_row_groups))
        > MAX_PART_UNCOMPRESSED
    ):
        raise ShardError(f"larger than the limit of {MAX_PART_UNCOMPRESSED} bytes once decompressed")
    run_ids = part.read(columns=["run_id"]).column(0).to_pylist()
    present = known([run_id for run_id in run_ids if isinstance(run_id, str)])
    rows = [index for index, run_id in enumerate(run_ids) if isinstance(run_id, str) and run_id not in present]
    if not rows:
        return [], []
    table = part.read(columns=["record", "environment"]).take(pyarrow.array(rows, pyarrow.int64()))
    return _records(relative, [run_ids[index] for index in rows], table)


def _records(relative: str, run_ids: list[str], table) -> tuple[list[dict], list[tuple[str, str]]]:
    """Records put back together from a part's rows: each JSON text
    bounded, each distinct environment parsed and checked once."""
    inner = _validators()[1]
    texts = table.column("record").to_pylist()
    environments: list[Any] = []
    for chunk in table.column("environment").chunks:
        parsed = [_environment(text, inner, f"{relative}: environment") for text in chunk.dictionary.to_pylist()]
        environments += [None if index is None else parsed[index] for index in chunk.indices.to_pylist()]
    records, bad = [], []
    for run_id, text, environment in zip(run_ids, texts, environments, strict=True):
        try:
            if isinstance(environment, str):
                raise InputError(relative, "/environment", environment)
            record = parse_json(text or "", f"{relative}: run {run_id}", max_bytes=MAX_RECORD_BYTES, expect=dict)
        except InputError as error:
            bad.append((run_id, str(error).split(": ", 2)[-1]))
            continue
        record["environment"] = environment
        reason = _refusal(record, run_id, relative, environment_checked=True)
        if reason is not None:
            bad.append((run_id, reason))
            continue
        records.append(record)
    return records, bad


def _refusal(record: dict, run_id: str, relative: str, environment_checked: bool) -> str | None:
    """Why a shared record is refused (schema, no origin, or not what its place in the registry says), or None."""
    outer, inner = _validators()
    reason = _problem(outer, record) or (
        None if environment_checked else _problem(inner, record.get("environment"), "/environment")
    )
    if reason is None and (
        "origin" not in record
        or record["run_id"] != run_id
        or not relative.startswith(f"{shard_of(record).rsplit('/', 1)[0]}/")
    ):
        reason = "no origin, or a run id or solution other than its place in the registry says"
    if reason is None and relative.endswith(PART_SUFFIX) and not relative.startswith(f"{shard_of(record)}/"):
        reason = "a month other than its shard's"
    return reason


def _environment(text: str | None, validator, source: str) -> dict | str:
    """A parsed and checked environment, or the reason it is refused (as a string)."""
    try:
        environment = parse_json(text or "", source, max_bytes=MAX_RECORD_BYTES, expect=dict)
    except InputError as error:
        return str(error).split(": ", 2)[-1]
    return _problem(validator, environment, "/environment") or environment


def _read_files(
    paths: list[Path], folder: Path, known: Callable[[list[str]], set[str]]
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Records of the first layout (one ``RUN_ID.json`` per run) not known yet, and (path, reason) for each refused."""
    present = known([path.stem for path in paths])
    records, bad = [], []
    for path in paths:
        if path.stem in present:
            continue
        relative = path.relative_to(folder).as_posix()
        try:
            record = read_json(path, expect=dict, max_bytes=MAX_RECORD_BYTES, source=relative)
        except InputError as error:
            bad.append((relative, str(error).split(": ", 1)[-1]))
            continue
        reason = _refusal(record, path.stem, relative, environment_checked=False)
        if reason is not None:
            bad.append((relative, reason))
            continue
        records.append(record)
    return records, bad

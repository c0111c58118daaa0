"""Reader of the Dark Machines CSV event format.

One event per line, fields separated by ``;``:

    event ID; process ID; event weight; MET; MET phi; obj1; obj2; ...

and each object is ``type,E,pT,eta,phi`` with type ``j``, ``b``, ``e-``,
``e+``, ``m-``, ``m+`` or ``g``. A trailing ``;`` is allowed. The files of the
Dark Machines anomaly-score challenge (arXiv:2105.14027) give E, pT and MET
in MeV, so MeV is the default unit here. Files in GeV need
``energy_unit="GeV"``. Files ending in ``.gz`` are decompressed while
reading. Empty lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import gzip
import logging
import math
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path
from typing import TextIO

import numpy as np

from .objects import INPUT_TYPES
from .table import EventTable, concatenate, unit_scale

logger = logging.getLogger(__name__)

DEFAULT_UNIT = "MeV"
_KIND = {symbol: index for index, symbol in enumerate(INPUT_TYPES)}
_HEADER_FIELDS = 5


class DarkMachinesFormatError(ValueError):
    """A line of a Dark Machines CSV file does not follow the format."""


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _number(text: str, field: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DarkMachinesFormatError(
            f"{where}: {field} {text!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise DarkMachinesFormatError(f"{where}: {field} is {value}")
    return value


def _parse_lines(lines: Iterable[str], source: str, max_events: int | None):
    """Yield (process, weight, objects) per event; objects are 5-tuples."""
    produced = 0
    for number, line in enumerate(lines, start=1):
        if max_events is not None and produced >= max_events:
            return
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{source}, line {number}"
        fields = text.rstrip(";").split(";")
        if len(fields) < _HEADER_FIELDS:
            raise DarkMachinesFormatError(
                f"{where}: expected at least {_HEADER_FIELDS} ';'-separated fields "
                "(event ID; process ID; weight; MET; MET phi), got "
                f"{len(fields)} in {text[:80]!r}"
            )
        weight = _number(fields[2], "the event weight", where)
        objects = []
        for item in fields[_HEADER_FIELDS:]:
            parts = item.split(",")
            if len(parts) != 5:
                raise DarkMachinesFormatError(
                    f"{where}: object {item!r} must have 5 ','-separated fields "
                    "type,E,pT,eta,phi"
                )
            symbol = parts[0].strip()
            if symbol not in _KIND:
                raise DarkMachinesFormatError(
                    f"{where}: unknown object type {symbol!r} in {item!r}; "
                    f"expected one of {', '.join(INPUT_TYPES)}"
                )
            values = [
                _number(value, name, where)
                for value, name in zip(parts[1:], ("E", "pT", "eta", "phi"))
            ]
            objects.append((_KIND[symbol], *values))
        yield fields[1].strip(), weight, objects
        produced += 1


def _to_table(events: Iterator, scale: float) -> EventTable:
    processes: list[str] = []
    weights: list[float] = []
    counts: list[int] = []
    rows: list[tuple] = []
    for process, weight, objects in events:
        processes.append(process)
        weights.append(weight)
        counts.append(len(objects))
        rows.extend(objects)
    data = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return EventTable(
        offsets=np.concatenate(([0], np.cumsum(counts, dtype=np.int64))),
        kind=data[:, 0].astype(np.int8),
        energy=data[:, 1] * scale,
        pt=data[:, 2] * scale,
        eta=data[:, 3],
        phi=data[:, 4],
        weight=np.array(weights, dtype=np.float64),
        process=np.array(processes, dtype=object),
    )


def read_darkmachines(
    paths: str | PathLike | Iterable[str | PathLike],
    energy_unit: str = DEFAULT_UNIT,
    max_events: int | None = None,
) -> EventTable:
    """Read Dark Machines CSV files (optionally gzipped) into an EventTable.

    ``energy_unit`` is the unit of E and pT in the files (MeV, GeV or TeV).
    ``max_events`` limits the events read from each file. Raises
    DarkMachinesFormatError with the file and line number of the first line
    that does not follow the format.
    """
    scale = unit_scale(energy_unit)
    if isinstance(paths, (str, PathLike)):
        paths = [paths]
    tables = []
    for path in map(Path, paths):
        with _open_text(path) as handle:
            table = _to_table(_parse_lines(handle, str(path), max_events), scale)
        logger.info(
            "read %d events with %d objects from %s",
            table.n_events,
            table.n_objects,
            path,
        )
        tables.append(table)
    return concatenate(tables)

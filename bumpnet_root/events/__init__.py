"""Invariant-mass histograms of object combinations, built from events.

Events are split into exclusive final states by the number of selected
objects of each type (jets ``j``, b-jets ``b``, electrons ``e``, muons ``m``,
photons ``g``). Every combination of two or more objects of a final state
gets an invariant-mass histogram whose bin width follows the mass resolution,
and the histograms that are long and full enough from their maximum on are
written to a ROOT file that ``bumpnet scan`` reads. See docs/events.md.

    from bumpnet_root.events import (
        BuildConfig,
        build_from_table,
        read_darkmachines,
        write_root,
    )

    result = build_from_table(read_darkmachines("events.csv.gz"), BuildConfig())
    write_root(result, "histograms.root")

The names below are imported on first use, so importing this package stays
cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BuildConfig": "config",
    "BuildResult": "build",
    "build_from_table": "build",
    "build_from_tree": "build",
    "Collection": "nanoaod",
    "NANOAOD_COLLECTIONS": "nanoaod",
    "TreeSource": "nanoaod",
    "read_nanoaod": "nanoaod",
    "write_nanoaod": "nanoaod",
    "EventTable": "table",
    "read_darkmachines": "darkmachines",
    "DarkMachinesFormatError": "darkmachines",
    "MassHistogram": "layout",
    "DroppedHistogram": "layout",
    "DroppedFinalState": "layout",
    "Resolution": "resolution",
    "DEFAULT_RESOLUTIONS": "resolution",
    "bin_edges": "resolution",
    "write_root": "output",
    "write_report": "output",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

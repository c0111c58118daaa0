"""Modules that the fork server of the scan's workers imports once.

See :mod:`bumpnet_root._workers`. ROOT is set up here too (its interpreter
starts on first use), because every worker reads with PyROOT.
"""

from __future__ import annotations

from . import api, inference, parallel  # noqa: F401
from ._fastread import resolve_reader

if resolve_reader("auto") == "pyroot":
    from ._root import import_root

    import_root("reading ROOT files").TFile  # noqa: B018

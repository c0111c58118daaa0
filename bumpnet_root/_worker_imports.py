"""Modules that the fork server of the scan's workers imports once.

See :mod:`bumpnet_root._workers`. ROOT is set up here too (its interpreter
starts on first use), because every worker reads with PyROOT. The model is
not loaded here. Loading it and compiling its padded network take about
0.2 s, which here would delay every worker, while the workers do it in
parallel. Seven interleaved pairs of --jobs 2 scans showed no gain from it.
"""

from __future__ import annotations

import gc

from . import api, inference, parallel  # noqa: F401
from ._fastread import resolve_reader

if resolve_reader("auto") == "pyroot":
    from ._root import import_root

    import_root("reading ROOT files").TFile  # noqa: B018

# The objects created so far go to a generation that the garbage collector
# never walks. A worker's collections then do not write to, and copy, the
# memory that it shares with this server. In a --jobs 2 scan of 30,000
# histograms a worker took 347 MB of PSS in place of 377 MB.
gc.freeze()

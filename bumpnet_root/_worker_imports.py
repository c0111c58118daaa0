"""What the fork server of the scan's workers imports and prepares once.

See :mod:`bumpnet_root._workers`. Everything a worker would otherwise do
for itself on its first task is done here, so that the workers share its
memory instead of each holding a copy:

* the scan's modules, torch and scipy.ndimage, which the scan imports where
  it uses it;
* ROOT, with the compiled helpers of the batch reader and of the
  significance.root writer, and one read of a TH1D and a TH1F (about 45 MB
  per process that compiled them itself);
* one run of a network of the default layout and of the likelihood ratio on
  the usual padded lengths.

The model itself is not loaded here: the path is not known when the server
starts, and seven interleaved pairs of ``--jobs 2`` scans showed no gain in
time from loading it here.

In a ``--jobs 2`` scan of 30,000 histograms each worker then had about
50 MB of private memory, against 130 MB.
"""

from __future__ import annotations

import gc
import signal
from typing import Any

# Ctrl-C reaches every process of the terminal's process group. The command
# handles it, so the server ignores it while it prepares: otherwise it prints
# a traceback of the imports below, or stops the compiler that ROOT runs to
# find its include paths. The workers get the usual handler back.
_interrupt_handler = signal.signal(signal.SIGINT, signal.SIG_IGN)

import numpy as np  # noqa: E402
import scipy.ndimage  # noqa: E402, F401

from . import _readers, _th1, adapters, api, inference, lee, parallel, stream  # noqa: E402, F401
from ._fastread import resolve_reader  # noqa: E402
from .model import BumpNetModule  # noqa: E402


def _warm_up_reading(root: Any) -> None:
    """Read a TH1D and a TH1F of a file in memory with the batch reader."""
    from ._batchread import read_clean_histograms

    add_directory = root.TH1.AddDirectoryStatus()
    root.TH1.AddDirectory(False)
    memory_file = root.TMemFile("bumpnet_root_warm_up.root", "RECREATE")
    try:
        for name, kind in (("d", root.TH1D), ("f", root.TH1F)):
            hist = kind(name, name, 8, 0.0, 8.0)
            hist.SetBinContent(1, 1.0)
            memory_file.WriteTObject(hist, name)
        read_clean_histograms(root, memory_file, ["d", "f"], [1, 1])
    finally:
        memory_file.Close()
        root.TH1.AddDirectory(add_directory)


def _warm_up_network() -> None:
    """Run a network of the default layout and the likelihood ratio once."""
    # One intra-op thread, as the workers use by default: torch starts no
    # thread pool here, which a forked process could not use.
    inference.set_torch_threads(1)
    network = inference.PaddedNetwork(BumpNetModule())
    rows = inference.NETWORK_ROWS
    for n_bins in range(64, 129, 8):
        counts = np.ones((rows, n_bins))
        lengths = np.full(rows, n_bins)
        network.log_background(counts, lengths)
        edges = np.tile(np.arange(n_bins + 1, dtype=np.float64), (rows, 1))
        inference._padded_likelihood_ratio_z(counts, counts, edges, lengths, 3, 1.0)


if resolve_reader("auto") == "pyroot":
    from ._batchread import _namespace
    from ._root import import_root, release_module_file_pages

    _root = import_root("reading ROOT files")
    _namespace(_root)
    stream._declare_write_z(_root)
    _warm_up_reading(_root)
    # The warm-ups read more of ROOT's module files.
    release_module_file_pages()
_warm_up_network()

signal.signal(signal.SIGINT, _interrupt_handler)

# The objects created so far go to a generation that the garbage collector
# never walks. A worker's collections then do not write to, and copy, the
# memory that it shares with this server. In a --jobs 2 scan of 30,000
# histograms a worker took 347 MB of PSS in place of 377 MB.
gc.freeze()

"""Fast evaluation of a loaded BumpNet TorchScript module on batches of arrays.

:func:`evaluate_arrays` computes the same (Z, background) as calling the module,
but runs only the network part (``log_background``) in TorchScript and the
likelihood ratio with :func:`bumpnet_root.model.likelihood_ratio_z` of this
package. That version stops the Newton fit of each bin once it has converged,
and it takes the lower bound of mu directly where the maximum lies on it,
where the model file runs 30 fixed iterations. Running the two parts apart
also lets the network run in small batches and the likelihood ratio in large
ones. ``bench/scan_throughput.py`` compares this path with the model file's
forward on the same batches, and docs/benchmarks.md lists the figures. Z
agrees with the model file's to 1e-8 (tests/test_throughput.py). The largest
differences are on the lower bound, which 30 bisection steps approach to
about 1e-9.

The network runs on micro-batches of :data:`NETWORK_ROWS` rows. With torch
2.13 (oneDNN 3.12) on one thread, a 100-bin histogram took half the time in
batches of 16 rows as in a batch of 256 (``bench/scan_throughput.py``),
likely because the activations of a small batch stay in the CPU's L2 cache.

The result of a row does not depend on the other rows of a batch of at least
16 rows. oneDNN picks other convolution algorithms for smaller batches, and
the background then differs by up to about 1e-7 relative. So every row gets
bit-for-bit the same background, except the rows of a last, partial
micro-batch, which match to that precision. The Newton fit of the likelihood
ratio may take one more step in a larger batch, which changes Z by less than
1e-10. :mod:`bumpnet_root.parallel` forms the same batches for any number of
workers, so its results are equal bit for bit.

Threads: the scan runs 1 torch thread per process and gets its parallelism
from processes (``--jobs``). On an idle 2-core machine, 2 threads on a batch
of 256 took more CPU time per histogram than 1 thread in batches of 16, and
while other processes kept the cores busy, 2 threads took longer even in wall
time (``bench/scan_throughput.py``), because torch's OpenMP threads spin while
they wait for each other.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .model import DEFAULT_TEMPLATE_REACH, likelihood_ratio_z

logger = logging.getLogger(__name__)

# Expected background per bin is clamped to at least this, as in
# BumpNetModule.forward.
MIN_NETWORK_BACKGROUND = 1e-3
# Rows per network call; see the module docstring.
NETWORK_ROWS = 16
# Rows per likelihood-ratio call: its float64 work arrays of (rows, bins, 17)
# values then stay below about 40 MB for 120 bins, while the fixed cost per
# call stays small against the work.
LIKELIHOOD_RATIO_ROWS = 256

_models: dict[tuple[str, int, int], Any] = {}
_models_lock = threading.Lock()


def set_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op threads for this process; None leaves them as they are."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
        logger.debug("torch uses %d intra-op threads", threads)


def load_model_cached(path: str | Path | None) -> Any:
    """Return a :class:`bumpnet_root.api.BumpNet`, loaded once per process and file.

    The cache key contains the file's size and modification time, so a model
    file rewritten in place is loaded again.
    """
    from .api import DEFAULT_MODEL_PATH, BumpNet

    resolved = Path(DEFAULT_MODEL_PATH if path is None else path).resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_size, stat.st_mtime_ns)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = BumpNet.load(resolved)
            _models[key] = model
    return model


def _template_settings(module: Any) -> tuple[int, float]:
    reach = getattr(module, "template_reach", DEFAULT_TEMPLATE_REACH)
    width = getattr(module, "template_width", 1.0)
    return int(reach), float(width)


def _slices(total: int, size: int) -> list[slice]:
    return [slice(first, first + size) for first in range(0, total, size)]


def evaluate_arrays(
    module: Any, counts: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (Z, background), each of shape (batch, n_bins), as float64 arrays.

    ``counts`` has shape (batch, n_bins) and ``edges`` (batch, n_bins + 1).
    Modules without a ``log_background`` method are called as a whole.
    """
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    edges = np.ascontiguousarray(edges, dtype=np.float64)
    if counts.shape[0] == 0:
        return np.empty_like(counts), np.empty_like(counts)
    counts_tensor = torch.from_numpy(counts)
    edges_tensor = torch.from_numpy(edges)
    with torch.inference_mode():
        if hasattr(module, "log_background"):
            log_background = torch.cat(
                [
                    module.log_background(counts_tensor[rows])
                    for rows in _slices(counts.shape[0], NETWORK_ROWS)
                ]
            )
            background = torch.exp(log_background) - 1.0
            background = background.clamp(min=MIN_NETWORK_BACKGROUND)
            reach, width = _template_settings(module)
            z = torch.cat(
                [
                    likelihood_ratio_z(
                        counts_tensor[rows],
                        background[rows],
                        edges_tensor[rows],
                        reach,
                        width,
                    )
                    for rows in _slices(counts.shape[0], LIKELIHOOD_RATIO_ROWS)
                ]
            )
        else:
            z, background = module(counts_tensor, edges_tensor)
    return z.numpy(), background.numpy()

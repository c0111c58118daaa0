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

Scans use :func:`evaluate_rows`: rows of any length are padded to one of a
few lengths (:func:`padded_length`), sorted by length and run in calls of a
fixed number of rows per padded length (:func:`network_rows`, 16 to 64), so
that oneDNN sees few input shapes (see :class:`PaddedNetwork`). A row's
background then does not depend on the other rows, bit for bit: a histogram
gets the same background in a scan, alone, and with any number of workers.
Rows of more than :data:`FILLED_BATCH_BINS` bins are the exception: their
last call is not filled up to its rows, so such a row alone and in a batch
can differ by about 1e-7 relative. The Newton fit of the likelihood ratio
may take one more step in a larger batch, which changes Z by less than 1e-10.

:func:`evaluate_arrays` runs the module's own network on rows of one length
in micro-batches of up to 16 rows. There, the result of a row does not
depend on the other rows of a batch of at least 16 rows. oneDNN picks other
convolution algorithms for smaller batches, so the background then differs
by up to about 1e-7 relative.

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
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .model import (
    DEFAULT_TEMPLATE_REACH,
    batch_template_windows,
    likelihood_ratio_z,
    network_features,
    z_from_windows,
)

logger = logging.getLogger(__name__)

# Expected background per bin is clamped to at least this, as in
# BumpNetModule.forward.
MIN_NETWORK_BACKGROUND = 1e-3
# Minimum rows per network call (see the module docstring). With fewer rows
# oneDNN picks other convolution algorithms, whose results differ by about
# 1e-7 relative.
NETWORK_ROWS = 16
# Maximum rows per network call, and the bins per call (rows times padded
# length) up to which rows are added: 4096 bins of 32 channels in float32
# take 512 kB per layer, which stays in the L2 cache. With one thread, calls
# of 32 rows of 128 bins took 0.26 ms per row against 0.30 ms in calls of 16
# rows, and 64 rows of 64 bins 0.13 ms against 0.20 ms.
MAX_NETWORK_ROWS = 64
NETWORK_CALL_BINS = 4096
# Up to this many bins, a short last micro-batch is filled with empty rows.
# Longer rows are rare in a scan, so their few shapes do not crowd the cache
# of prepared convolutions, and filling would multiply the work of a single
# long histogram by up to 16.
FILLED_BATCH_BINS = 2048
# Bins per likelihood-ratio call (rows times bins). A work array of the
# Newton fit then contains 4096 x 17 float64 values (557 kB), and the few that
# each step reads stay in the L2 cache. On the histograms of a benchmark task
# the likelihood ratio took 138 to 144 ms in calls of 4096 bins, against 146
# to 158 ms in calls of 30,720 and 164 ms in calls of 2048. Rows of more bins
# run one at a time.
LIKELIHOOD_RATIO_BINS = 4096


def likelihood_ratio_rows(n_bins: int) -> int:
    """Return how many rows of ``n_bins`` bins one likelihood-ratio call takes."""
    return max(1, LIKELIHOOD_RATIO_BINS // max(n_bins, 1))


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
                    for rows in _slices(
                        counts.shape[0], likelihood_ratio_rows(counts.shape[1])
                    )
                ]
            )
        else:
            z, background = module(counts_tensor, edges_tensor)
    return z.numpy(), background.numpy()


def network_rows(n_bins: int) -> int:
    """Return the rows of each network call on rows padded to ``n_bins`` bins."""
    fitting = NETWORK_CALL_BINS // max(n_bins, 1)
    return max(NETWORK_ROWS, min(MAX_NETWORK_ROWS, fitting))


def network_calls(lengths: np.ndarray) -> list[tuple[int, int, int]]:
    """Split rows of ascending ``lengths`` into network calls.

    Returns (first, stop, padded length) per call. A call takes the next rows
    while they number at most :func:`network_rows` of the padded length of
    its longest row, so a call pads its shorter rows to the longer ones only
    where the rows of one padded length end.
    """
    calls = []
    first = 0
    total = len(lengths)
    while first < total:
        stop = first + 1
        while stop < total:
            if stop - first >= network_rows(padded_length(int(lengths[stop]))):
                break
            stop += 1
        calls.append((first, stop, padded_length(int(lengths[stop - 1]))))
        first = stop
    return calls


def padded_length(n_bins: int) -> int:
    """Return the length that rows of ``n_bins`` bins are padded to.

    Multiples of 8, and above 64 bins eight lengths per doubling: the padding
    is at most 7 bins or 12.5 % of the row, whichever is larger, and a scan of
    many binnings runs the network on a few shapes.
    """
    step = max(8, 2 ** (max(n_bins, 1).bit_length() - 4))
    return -(-n_bins // step) * step


class PaddedNetwork:
    """The network of a BumpNet module run on rows padded to a common length.

    oneDNN prepares each convolution once per input shape and keeps about a
    thousand prepared ones (its default cache size). Grouped by exact length and
    cut into micro-batches of 1 to 16 rows, a scan of histograms of 50 to 120
    bins allows over a thousand shapes. ``bench/scan_throughput.py`` measures
    network and likelihood ratio on rows of 40 to 100 bins at 0.76 ms per row
    grouped by exact length, against 0.49 ms padded. Here every call has a
    length from :func:`padded_length` and the rows :func:`network_rows` gives
    for it (a short last call of up to :data:`FILLED_BATCH_BINS` bins is
    filled with empty rows).

    The result does not depend on the padding, bit for bit, nor on the other
    rows of a call of at least :data:`NETWORK_ROWS` rows. The inputs past a
    row's own length are set to zero before every convolution that reads neighbouring
    bins, which is what the convolutions' own zero padding gives on the row
    alone. The per-histogram mean and spread of the inputs are taken over the
    row's own bins. The background agrees with the module's own
    ``log_background`` on the unpadded row to float32 precision (about 1e-6
    relative; tests/test_throughput.py). Z then agrees to about 2e-5 for
    backgrounds up to 1e6 per bin, the end of the training range, 1e-4 at 1e9
    and a few 1e-3 at 1e12 (largest differences from evaluate_arrays on rows
    alone, measured on falling spectra of 40 to 50 bins).

    Built by :meth:`from_module` on the weights of a loaded TorchScript module
    with the layout of :class:`bumpnet_root.model.BumpNetModule`; the two share
    their parameter tensors.
    """

    def __init__(self, network: Any) -> None:
        self.network = network.eval()
        core = _MaskedCore(self.network)
        try:
            # TorchScript saves about a tenth of the time per call on 16 rows
            # against running the same layers from Python.
            self.core = torch.jit.script(core)
        except RuntimeError as error:
            logger.debug("running the padded network from Python: %s", error)
            self.core = core

    @classmethod
    def from_module(cls, module: Any) -> PaddedNetwork | None:
        """Return the padded network of ``module``, or None for another layout."""
        from .model import BumpNetModule

        try:
            state = module.state_dict(keep_vars=True)
            blocks = sorted(
                {int(key.split(".")[1]) for key in state if key.startswith("blocks.")}
            )
            dilations = tuple(
                int(getattr(module.blocks, str(i)).conv.dilation[0]) for i in blocks
            )
            weight = state["blocks.0.conv.weight"]
            network = BumpNetModule(
                channels=int(weight.shape[0]),
                kernel_size=int(weight.shape[2]),
                dilations=dilations,
            )
            # assign=True shares the module's parameter tensors, so a change
            # of the module's weights in place reaches the padded network too.
            network.load_state_dict(state, strict=True, assign=True)
        except (AttributeError, KeyError, RuntimeError, ValueError) as error:
            logger.debug("no padded network for this module: %s", error)
            return None
        if blocks != list(range(len(blocks))) or not hasattr(module, "log_background"):
            return None
        padded = cls(network)
        try:
            agrees = padded._agrees_with(module)
        except Exception as error:  # a module whose log_background differs
            logger.debug("cannot compare the padded network: %s", error)
            agrees = False
        if not agrees:
            logger.debug("padded network differs from the module; not used")
            return None
        return padded

    def _agrees_with(self, module: Any) -> bool:
        """Compare with the module's own log_background on a few probe rows."""
        rng = np.random.default_rng(0)
        length = 37
        shape = np.geomspace(5e3, 2.0, length)
        counts = rng.poisson(shape[None, :] * rng.uniform(0.1, 3.0, (3, 1)))
        counts = counts.astype(np.float64)
        with torch.inference_mode():
            expected = module.log_background(torch.from_numpy(counts)).numpy()
        got = self.log_background(
            counts_padded(counts, padded_length(length)),
            np.full(3, length),
        )[:, :length]
        return bool(np.allclose(got, expected, rtol=1e-4, atol=1e-4))

    def log_background(self, counts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Return log(b + 1) of shape (rows, n_bins) for zero-padded ``counts``.

        Row i contains ``lengths[i]`` bins; entries past them are not defined.
        """
        rows, n_bins = counts.shape
        per_call = network_rows(n_bins)
        parts = [
            self._call(counts[part], lengths[part]) for part in _slices(rows, per_call)
        ]
        return np.concatenate(parts)

    def log_background_rows(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        """Return log(b + 1) for each row of counts; the rows may differ in length.

        The rows run sorted by length in the calls of :func:`network_calls`.
        """
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        results: list[np.ndarray] = [np.empty(0)] * len(rows)
        for first, stop, n_bins in network_calls(lengths[order]):
            members = order[first:stop]
            counts = np.zeros((len(members), n_bins))
            for row, position in enumerate(members):
                counts[row, : lengths[position]] = rows[position]
            log_background = self._call(counts, lengths[members])
            for row, position in enumerate(members):
                results[position] = log_background[row, : lengths[position]]
        return results

    def _call(self, counts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Run one call, filled with empty rows up to :func:`network_rows`."""
        rows, n_bins = counts.shape
        missing = network_rows(n_bins) - rows
        if n_bins > FILLED_BATCH_BINS:
            missing = 0
        if missing > 0:
            counts = np.concatenate([counts, np.zeros((missing, n_bins))])
            lengths = np.concatenate([lengths, np.full(missing, n_bins)])
        with torch.inference_mode():
            result = self.core(
                torch.from_numpy(np.ascontiguousarray(counts, dtype=np.float64)),
                torch.from_numpy(np.asarray(lengths, dtype=np.int64)),
            )
        return result[:rows].numpy()


class _MaskedCore(torch.nn.Module):
    """The preprocessing and layers of a BumpNetModule for zero-padded rows.

    The inputs past a row's length are set to zero before each layer that
    reads neighbouring bins, and the mean and spread of log(n + 1) are taken
    over the row's own bins.
    """

    def __init__(self, network: Any) -> None:
        super().__init__()
        self.input = network.input
        self.blocks = network.blocks
        self.head = network.head

    def forward(self, counts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return log(b + 1) for float64 ``counts`` padded past ``lengths``."""
        n_bins = counts.shape[1]
        position = torch.arange(n_bins)
        valid = position[None, :] < lengths[:, None]
        valid64 = valid.to(torch.float64)
        size = lengths.to(torch.float64)[:, None]
        n = counts.clamp(min=0.0) * valid64
        y = torch.log1p(n)
        center = y.sum(dim=1, keepdim=True) / size
        deviation = (y - center) * valid64
        spread = torch.sqrt((deviation**2).sum(dim=1, keepdim=True) / size) + 0.1
        noise = torch.rsqrt(n + 1.0)

        # Neighbours as with replicate padding at both ends of each row.
        before = torch.cat([y[:, :1], y[:, :-1]], dim=1)
        after = torch.cat([y[:, 1:], y[:, -1:]], dim=1)
        after = torch.where(position[None, :] + 1 < lengths[:, None], after, y)
        features = network_features(y, before, after, center, spread, noise)

        mask = valid[:, None, :].float()
        x = self.input(features) * mask
        for block in self.blocks:
            x = block(x) * mask
        correction = self.head(x).to(torch.float64)
        return y + noise * correction[:, 0, :] + spread * correction[:, 1, :]


def counts_padded(counts: np.ndarray, n_bins: int) -> np.ndarray:
    """Return ``counts`` (rows, bins) with zero columns appended up to ``n_bins``."""
    extra = n_bins - counts.shape[1]
    if extra < 0:
        raise ValueError(
            f"cannot pad {counts.shape[1]} bins to {n_bins}: the padded length "
            "must be at least the number of bins"
        )
    return np.pad(counts, ((0, 0), (0, extra)))


# Weak keys: the padded network of a module goes when the module goes.
_padded_networks: weakref.WeakKeyDictionary[Any, tuple[PaddedNetwork | None]] = (
    weakref.WeakKeyDictionary()
)


def padded_network(module: Any) -> PaddedNetwork | None:
    """Return the :class:`PaddedNetwork` of ``module``, built once per module."""
    with _models_lock:
        entry = _padded_networks.get(module)
        if entry is None:
            entry = (PaddedNetwork.from_module(module),)
            _padded_networks[module] = entry
    return entry[0]


def evaluate_rows(
    module: Any, rows: list[tuple[np.ndarray, np.ndarray]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (Z, background) for each (counts, edges) row; rows may differ in length.

    Rows are grouped by :func:`padded_length` and run by :class:`PaddedNetwork`.
    For a module of another layout, rows are grouped by their exact length and
    run by :func:`evaluate_arrays`.
    """
    network = padded_network(module)
    results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(rows)
    if network is None:
        groups: dict[int, list[int]] = {}
        for position, (counts, _) in enumerate(rows):
            groups.setdefault(len(counts), []).append(position)
        for members in groups.values():
            counts = np.stack([rows[i][0] for i in members])
            edges = np.stack([rows[i][1] for i in members])
            z, background = evaluate_arrays(module, counts, edges)
            for row, position in enumerate(members):
                results[position] = (z[row], background[row])
        return results  # type: ignore[return-value]
    log_backgrounds = network.log_background_rows([counts for counts, _ in rows])
    groups = {}
    for position, (counts, _) in enumerate(rows):
        groups.setdefault(padded_length(len(counts)), []).append(position)
    reach, width = _template_settings(module)
    for size, members in groups.items():
        lengths = np.array([len(rows[i][0]) for i in members])
        counts = np.zeros((len(members), size))
        edges = np.empty((len(members), size + 1))
        log_background = np.zeros((len(members), size))
        for row, position in enumerate(members):
            row_counts, row_edges = rows[position]
            length = lengths[row]
            counts[row, :length] = row_counts
            edges[row] = _extended_edges(row_edges, size)
            log_background[row, :length] = log_backgrounds[position]
        background = np.expm1(log_background)
        background = np.clip(background, MIN_NETWORK_BACKGROUND, None)
        background[np.arange(size)[None, :] >= lengths[:, None]] = 1.0
        z = np.concatenate(
            [
                _padded_likelihood_ratio_z(
                    counts[part],
                    background[part],
                    edges[part],
                    lengths[part],
                    reach,
                    width,
                )
                for part in _slices(len(members), likelihood_ratio_rows(size))
            ]
        )
        for row, position in enumerate(members):
            length = lengths[row]
            results[position] = (z[row, :length], background[row, :length])
    return results  # type: ignore[return-value]


def _extended_edges(edges: np.ndarray, n_bins: int) -> np.ndarray:
    """Return ``edges`` continued with bins of the last bin's width up to n_bins."""
    extra = n_bins + 1 - len(edges)
    if extra == 0:
        return edges
    last = edges[-1] - edges[-2]
    return np.concatenate([edges, edges[-1] + last * np.arange(1, extra + 1)])


def _padded_likelihood_ratio_z(
    counts: np.ndarray,
    background: np.ndarray,
    edges: np.ndarray,
    lengths: np.ndarray,
    reach: int,
    width: float,
) -> np.ndarray:
    """Return Z of rows padded past ``lengths``; Z past a row's length is not defined.

    The templates of bins near a row's end lose their weight in the padding
    and are normalised again over the row's own bins, as
    :func:`bumpnet_root.model.template_windows` does at the end of an
    unpadded row.
    """
    counts_t = torch.from_numpy(counts)
    background_t = torch.from_numpy(background)
    edges_t = torch.from_numpy(edges)
    n_bins = counts.shape[1]
    index, weight = batch_template_windows(edges_t, reach, width)
    lengths_t = torch.from_numpy(lengths)
    offsets = torch.arange(-reach, reach + 1)
    raw = torch.arange(n_bins)[:, None] + offsets[None, :]
    inside = torch.arange(n_bins)[None, :] < lengths_t[:, None]
    keep = (raw[None, :, :] < lengths_t[:, None, None]) | ~inside[:, :, None]
    weight = torch.where(keep, weight, 0.0)
    weight = weight / weight.sum(dim=2, keepdim=True)
    with torch.inference_mode():
        z = z_from_windows(counts_t, background_t, index, weight)
    return z.numpy()

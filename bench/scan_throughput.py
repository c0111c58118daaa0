"""Measure ``bumpnet scan`` on many histograms, against the old path and others.

Run from the repository root (writes about 40 MB into --workdir):

    python bench/scan_throughput.py [--histograms 30000] [--jobs 1 2]

Steps, all in one run so that the ratios share the machine's load. The
first and the last line print the load average and a speed probe (see
speed_probe), which tell how fast the virtual machine ran.

1. Write --histograms TH1Ds (60 to 120 bins in steps of 10, power-law spectra
   with 10^2 to 10^5 events in the first bin, a Gaussian bump of 5 sigma in
   every tenth) into one ROOT file with PyROOT, in a subprocess. This process
   imports neither ROOT nor torch before the scans of step 2 are done, so
   that it shares no library pages with them (PSS splits a shared page among
   all processes that map it).
2. Run ``bumpnet scan --plots 0`` in a subprocess: first with an empty
   look-elsewhere cache (the calibration is part of the time), then with the
   cache filled, for each --jobs value, and once more with the largest
   --jobs value and ``--reader uproot`` (what a scan without PyROOT uses).
   Wall time covers the whole command (ROOT file in, summary.json,
   summary.csv, scan_report.json and significance.root out). CPU time sums
   all processes of the scan (see TreeCpu: workers are forked by a fork
   server, not by the scan). Then, in one more run per --jobs value, the
   peaks of the summed RSS and the summed PSS of the process tree (sampled
   every 0.1 s; see TreeMemory and run_scan).
3. Baseline: the scan as it was before the fast path, on --baseline histograms
   in this process: scan_files (uproot reading), the module's own forward
   with its fixed 30 Newton iterations, and torch's default threads.
4. The network alone on a batch of 256 with 1 and with 2 torch threads and in
   batches of 16 with 1 thread, and network plus likelihood ratio: the model
   file's forward in batches of 16 against bumpnet_root.inference.
5. Writing significance.root for 3000 results: uproot, and PyROOT with LZ4
   level 4 (the scan's setting), with ZLIB level 1 and without compression.
6. The peak RSS of a Python process that imports PyROOT, torch or both.
7. The RooFit likelihood-ratio scan (bumpnet_root.crosscheck.crosscheck, every
   bin centre) on --roofit histograms and pyBumpHunter (BumpHunter1D with the
   true background as reference, widths 1 to 5 bins, --bumphunter-npe
   pseudo-experiments) on --bumphunter histograms, both from the same file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BINNINGS = (60, 70, 80, 90, 100, 110, 120)


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    loop, products = speed_probe()
    return (
        f"{os.cpu_count()} CPUs ({model}), load average {load}, "
        f"python {platform.python_version()}, speed probe: Python loop "
        f"{loop:.2f} s, matrix products {products:.2f} s"
    )


# Fixed pieces of work, timed in a fresh process with one thread: a Python
# loop, and float32 matrix products like those of the network's layers.
_PROBE = """
import os
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
import time
import numpy as np
started = time.perf_counter()
total = 0
for value in range(10_000_000):
    total += value
loop = time.perf_counter() - started
a = np.ones((512, 512), dtype=np.float32)
a @ a
started = time.perf_counter()
for _ in range(200):
    a @ a
print(loop, time.perf_counter() - started)
"""


def speed_probe() -> tuple[float, float]:
    """Return the seconds of two fixed pieces of work (least of three each).

    10^7 additions in a Python loop, and 200 products of 512 x 512 float32
    matrices on one thread. The virtual machine's speed changes over hours
    by up to a half, which the load average does not show, and vector work
    can slow down while the Python loop does not.
    """
    loops, products = [], []
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
        )
        loop, product = (float(value) for value in result.stdout.split())
        loops.append(loop)
        products.append(product)
    return min(loops), min(products)


def spectrum(
    rng: np.random.Generator, index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (edges, expected background, counts) of histogram ``index``."""
    n_bins = BINNINGS[index % len(BINNINGS)]
    edges = np.linspace(100.0, 100.0 + 10.0 * n_bins, n_bins + 1)
    centers = 0.5 * (edges[1:] + edges[:-1])
    background = 10.0 ** rng.uniform(2.0, 5.0) * (centers / 100.0) ** -rng.uniform(2, 6)
    expected = background
    if index % 10 == 0:
        mass = rng.uniform(edges[0] + 0.2 * (edges[-1] - edges[0]), edges[-1] * 0.8)
        peak = 5.0 * np.sqrt(np.interp(mass, centers, background))
        expected = background + peak * np.exp(-0.5 * ((centers - mass) / 15.0) ** 2)
    return edges, background, rng.poisson(expected).astype(np.float64)


def write_file(path: Path, count: int) -> float:
    """Write the histograms with PyROOT; return the seconds it took."""
    from bumpnet_root._root import import_root

    root = import_root("the benchmark file")
    rng = np.random.default_rng(2024)
    started = time.perf_counter()
    root_file = root.TFile(str(path), "RECREATE")
    root.TH1.AddDirectory(False)
    directory = None
    for index in range(count):
        if index % 1000 == 0:
            directory = root_file.mkdir(f"dir{index // 1000:03d}")
        edges, _, counts = spectrum(rng, index)
        hist = root.TH1D(f"h{index}", "mass", edges.size - 1, edges[0], edges[-1])
        hist.SetContent(np.concatenate(([0.0], counts, [0.0])))
        directory.WriteTObject(hist, f"h{index}")
    root_file.Close()
    return time.perf_counter() - started


def _pss(pid: int) -> int:
    """Return the proportional set size of a process in bytes."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


class TreeMemory:
    """Sample the memory of a process and its children every 0.1 s.

    Two sums over the tree. RSS counts a page shared by several processes
    (library code, the model file) once per process. PSS (proportional set
    size, from /proc/PID/smaps_rollup) splits such a page between the
    processes that share it, so its sum is the memory the tree takes from the
    machine.
    """

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            rss = pss = 0
            try:
                processes = [self.process, *self.process.children(recursive=True)]
                for process in processes:
                    rss += process.memory_info().rss
                    pss += _pss(process.pid)
            except (psutil.Error, OSError):
                rss = pss = 0
            self.peak = max(self.peak, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self._stop.wait(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


class TreeCpu:
    """Sample the CPU time of a process's descendants every 0.25 s.

    The scan's worker processes are forked by a fork server, so they are its
    children, not the scan's, and getrusage(RUSAGE_CHILDREN) of this process
    counts neither them nor the server. Their CPU time is read from /proc
    instead; a process loses at most its last 0.25 s, so the sum is a lower
    bound.
    """

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.seconds: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                descendants = self.process.children(recursive=True)
            except psutil.Error:
                descendants = []
            for process in descendants:
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                self.seconds[process.pid] = times.user + times.system
            self._stop.wait(0.25)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.seconds.values())


def run_scan(
    path: Path,
    out: Path,
    cache: Path,
    jobs: int,
    sample_memory: bool = False,
    reader: str = "auto",
) -> dict:
    """Run ``bumpnet scan`` in a subprocess and return its figures.

    Reading smaps_rollup ten times a second costs CPU: with ``--jobs 2`` the
    scan took about 10 % longer while sampled. So the tree's memory is
    sampled only with ``sample_memory``, in a run of its own.
    """
    command = [
        sys.executable,
        "-m",
        "bumpnet_root",
        "scan",
        str(path),
        "--out",
        str(out),
        "--plots",
        "0",
        "--table-rows",
        "3",
        "--jobs",
        str(jobs),
        "--reader",
        reader,
    ]
    environment = dict(os.environ, BUMPNET_CACHE_DIR=str(cache))
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), environment.get("PYTHONPATH")])
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    memory = TreeMemory(process.pid) if sample_memory else None
    descendants = TreeCpu(process.pid)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    descendants_cpu = descendants.stop()
    tree_peak = memory.stop() if memory is not None else math.nan
    tree_pss = memory.peak_pss if memory is not None else math.nan
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"bumpnet scan failed:\n{stderr.decode()[-2000:]}")
    report = json.loads((out / "scan_report.json").read_text())
    # The scan's own CPU time and that of the children it waited for, plus
    # the sampled time of its descendants (which counts those children twice:
    # the resource tracker, a few hundredths of a second).
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu += descendants_cpu
    return {
        "command": " ".join(command[2:]),
        "scanned": report["scanned"],
        "wall": wall,
        "cpu": cpu,
        "max_rss_mb": after.ru_maxrss / 1024,
        "tree_rss_mb": tree_peak / 2**20,
        "tree_pss_mb": tree_pss / 2**20,
        "lee": report["look_elsewhere"],
        "output": stdout.decode(),
    }


def baseline(path: Path, count: int) -> tuple[int, float]:
    """Scan ``count`` histograms the way the scan worked before the fast path."""
    import torch

    import bumpnet_root.api as api
    import bumpnet_root.scan as scan
    from bumpnet_root.scan import scan_files

    def forward(module, rows):
        """Run the model file's forward once on the rows of each length."""
        groups: dict[int, list[int]] = {}
        for position, (counts, _) in enumerate(rows):
            groups.setdefault(len(counts), []).append(position)
        outputs: list = [None] * len(rows)
        with torch.inference_mode():
            for members in groups.values():
                counts = torch.from_numpy(np.stack([rows[i][0] for i in members]))
                edges = torch.from_numpy(np.stack([rows[i][1] for i in members]))
                z, background = module(counts, edges)
                for row, position in enumerate(members):
                    outputs[position] = (z[row].numpy(), background[row].numpy())
        return outputs

    model = api.BumpNet.load()
    select = [f"dir000/h{index}" for index in range(min(count, 1000))]
    select += [f"dir001/h{index}" for index in range(1000, count)]
    fast_evaluate = api.evaluate_rows
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    api.evaluate_rows = forward
    # uproot builds every histogram object, as before TH1D were read from bytes.
    from_bytes = scan._load_th1_bytes
    scan._load_th1_bytes = lambda *arguments: None
    try:
        started = time.perf_counter()
        report = scan_files([path], model, select=select)
        seconds = time.perf_counter() - started
    finally:
        api.evaluate_rows = fast_evaluate
        scan._load_th1_bytes = from_bytes
        torch.set_num_threads(threads)
    return len(report.results), seconds


def best_of_three(function) -> float:
    function()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def network_figures(batch: int = 256) -> dict[str, float]:
    """Return seconds per 100-bin histogram of the network and likelihood ratio."""
    import torch

    from bumpnet_root.api import BumpNet
    from bumpnet_root.inference import evaluate_arrays, evaluate_rows

    model = BumpNet.load()
    rng = np.random.default_rng(1)
    centers = np.arange(100) + 0.5
    expected = 10.0 ** rng.uniform(2, 5, (batch, 1)) * (1 + centers / 10) ** -3.0
    counts = torch.from_numpy(rng.poisson(expected).astype(np.float64))
    edges = torch.from_numpy(np.tile(np.arange(101.0), (batch, 1)))
    figures = {}
    with torch.inference_mode():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            seconds = best_of_three(lambda: model.module.log_background(counts))
            label = f"100 bins: network, {threads} thread(s), batch of {batch}"
            figures[label] = seconds / batch
        torch.set_num_threads(1)

        def micro_batches() -> None:
            for first in range(0, batch, 16):
                model.module.log_background(counts[first : first + 16])

        seconds = best_of_three(micro_batches)
        figures["100 bins: network, 1 thread, batches of 16"] = seconds / batch

        def forward_micro_batches() -> None:
            for first in range(0, batch, 16):
                model.module(counts[first : first + 16], edges[first : first + 16])

        seconds = best_of_three(forward_micro_batches)
        figures["100 bins: model file's forward, batches of 16"] = seconds / batch
        seconds = best_of_three(
            lambda: evaluate_arrays(model.module, counts.numpy(), edges.numpy())
        )
        label = "100 bins: inference.evaluate_arrays (network and likelihood ratio)"
        figures[label] = seconds / batch
        rows = list(zip(counts.numpy(), edges.numpy()))
        seconds = best_of_three(lambda: evaluate_rows(model.module, rows))
        figures["100 bins: inference.evaluate_rows (what the scan uses)"] = (
            seconds / batch
        )
        # Rows of 40 to 100 bins: grouped by exact length, against padded.
        mixed = []
        for row in range(batch):
            n_bins = int(rng.integers(40, 101))
            mixed.append(
                (
                    counts.numpy()[row, :n_bins].copy(),
                    np.arange(n_bins + 1.0),
                )
            )

        def by_exact_length() -> None:
            groups: dict[int, list[int]] = {}
            for position, (row_counts, _) in enumerate(mixed):
                groups.setdefault(len(row_counts), []).append(position)
            for members in groups.values():
                evaluate_arrays(
                    model.module,
                    np.stack([mixed[i][0] for i in members]),
                    np.stack([mixed[i][1] for i in members]),
                )

        seconds = best_of_three(by_exact_length)
        figures["40 to 100 bins, grouped by exact length (evaluate_arrays)"] = (
            seconds / batch
        )
        seconds = best_of_three(lambda: evaluate_rows(model.module, mixed))
        figures["40 to 100 bins, padded (evaluate_rows)"] = seconds / batch
    return figures


def writer_figures(path: Path, workdir: Path) -> dict[str, tuple[float, float]]:
    """Return (seconds per histogram, MB) of writing significance.root 4 ways."""
    from bumpnet_root.api import DEFAULT_MODEL_PATH
    from bumpnet_root.parallel import scan_files_fast
    from bumpnet_root.scan import ScanReport
    from bumpnet_root.stream import StreamingOutputs

    select = ["dir000/*", "dir001/*", "dir002/*"]
    results = scan_files_fast([path], DEFAULT_MODEL_PATH, select=select).report.results
    figures = {}
    for label, writer, compression in (
        ("uproot (ZLIB level 1)", "uproot", None),
        ("PyROOT, LZ4 level 4 (what the scan writes)", "pyroot", None),
        ("PyROOT, ZLIB level 1", "pyroot", 101),
        ("PyROOT, no compression", "pyroot", 0),
    ):
        out = workdir / "writers"
        started = time.perf_counter()
        outputs = StreamingOutputs(out, writer=writer)
        if compression is not None:
            outputs._root.file.SetCompressionSettings(compression)
        for result in results:
            outputs.add(result)
        outputs.finish(ScanReport(), 3.0, {})
        seconds = (time.perf_counter() - started) / len(results)
        size = (out / "significance.root").stat().st_size / 2**20
        figures[label] = (seconds, size)
    return figures


def import_memory() -> dict[str, float]:
    """Return the peak RSS in MB of a process that only imports these modules."""
    statements = {
        "PyROOT": "import ROOT; ROOT.TH1D",
        "torch": "import torch",
        "PyROOT and torch": "import torch; import ROOT; ROOT.TH1D",
    }
    figures = {}
    for label, statement in statements.items():
        # VmHWM, not getrusage: Linux keeps ru_maxrss across exec, so a child
        # of this large process would report at least this process's peak.
        code = (
            f"{statement}; "
            "print([line.split()[1] for line in open('/proc/self/status') "
            "if line.startswith('VmHWM')][0])"
        )
        completed = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code],
            capture_output=True,
            text=True,
            check=True,
        )
        figures[label] = int(completed.stdout.split()[-1]) / 1024
    return figures


def comparisons(count_roofit: int, count_bumphunter: int, npe: int) -> dict:
    """Return seconds per histogram of RooFit and pyBumpHunter."""
    from bumpnet_root.crosscheck import crosscheck

    rng = np.random.default_rng(2024)
    spectra = [spectrum(rng, index) for index in range(max(count_roofit, 1) * 10)]
    # Every tenth histogram has a bump; take those, as a user would.
    with_bumps = spectra[::10]
    figures: dict = {}
    started = time.perf_counter()
    for edges, _, counts in with_bumps[:count_roofit]:
        crosscheck((counts, edges))
    figures["roofit"] = (time.perf_counter() - started) / max(count_roofit, 1)
    try:
        import pyBumpHunter
    except ImportError:
        figures["bumphunter"] = None
        return figures
    started = time.perf_counter()
    for edges, background, counts in spectra[:count_bumphunter]:
        hunter = pyBumpHunter.BumpHunter1D(
            rang=(edges[0], edges[-1]),
            bins=edges,
            width_min=1,
            width_max=5,
            npe=npe,
            nworker=1,
            seed=1,
        )
        # BumpHunter1D prints its result; the benchmark prints its own lines.
        with contextlib.redirect_stdout(io.StringIO()):
            hunter.bump_scan(counts, background, is_hist=True)
    figures["bumphunter"] = (time.perf_counter() - started) / count_bumphunter
    figures["bumphunter_version"] = pyBumpHunter.version.__version__
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histograms", type=int, default=30000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--baseline", type=int, default=1000)
    parser.add_argument("--roofit", type=int, default=5)
    parser.add_argument("--bumphunter", type=int, default=50)
    parser.add_argument("--bumphunter-npe", type=int, default=1000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bumpnet-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    path = workdir / "spectra.root"
    # In a process of its own: PSS splits a page among all processes that
    # map it, so ROOT's and torch's libraries mapped in this process would
    # lower the PSS of the scans below.
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        seconds = pool.submit(write_file, path, args.histograms).result()
    size = path.stat().st_size / 2**20
    print(f"wrote {args.histograms} histograms with PyROOT in {seconds:.1f} s")
    print(f"({size:.1f} MB): {args.histograms / seconds:.0f} histograms/s")

    cache = workdir / "lee-cache"
    shutil.rmtree(cache, ignore_errors=True)
    runs = [("empty cache", max(args.jobs))]
    runs += [("filled cache", jobs) for jobs in args.jobs]
    results = []
    for label, jobs in runs:
        figures = run_scan(path, workdir / f"out-{jobs}", cache, jobs)
        rate = figures["scanned"] / figures["wall"]
        results.append((label, jobs, rate, figures))
        print(
            f"bumpnet scan --jobs {jobs}, LEE {label}: {figures['scanned']} "
            f"histograms in {figures['wall']:.1f} s = {rate:.0f} histograms/s "
            f"(CPU {figures['cpu']:.1f} s, all processes); peak RSS "
            f"{figures['max_rss_mb']:.0f} MB (the command's own process)"
        )
    jobs = max(args.jobs)
    figures = run_scan(path, workdir / "out-uproot", cache, jobs, reader="uproot")
    print(
        f"bumpnet scan --jobs {jobs} --reader uproot, LEE filled cache: "
        f"{figures['scanned']} histograms in {figures['wall']:.1f} s = "
        f"{figures['scanned'] / figures['wall']:.0f} histograms/s "
        f"(CPU {figures['cpu']:.1f} s, all processes)"
    )
    for jobs in args.jobs:
        sampled = run_scan(
            path, workdir / f"memory-{jobs}", cache, jobs, sample_memory=True
        )
        print(
            f"bumpnet scan --jobs {jobs}, LEE filled cache, memory sampled every "
            f"0.1 s: peak summed RSS {sampled['tree_rss_mb']:.0f} MB, peak summed "
            f"PSS {sampled['tree_pss_mb']:.0f} MB (process tree; "
            f"{sampled['wall']:.1f} s while sampled)"
        )
    lee = results[-1][3]["lee"]
    print(
        f"look-elsewhere: {lee['expected_false_candidates']:.1f} false candidates "
        f"with Z > {lee['threshold']} expected in {lee['trials']} trials; "
        f"calibrations {lee['calibrations']}"
    )
    print(f"command: {results[-1][3]['command']}")
    print(results[-1][3]["output"].strip())
    best_rate = max(rate for label, _, rate, _ in results if label == "filled cache")

    scanned, seconds = baseline(path, args.baseline)
    baseline_rate = scanned / seconds
    print(
        f"baseline (scan_files, uproot, module forward, {os.cpu_count()} torch "
        f"threads): {scanned} histograms in {seconds:.1f} s = "
        f"{baseline_rate:.0f} histograms/s; fast path {best_rate / baseline_rate:.1f} "
        "times faster"
    )
    for label, seconds in network_figures().items():
        print(f"{label}: {1e3 * seconds:.3f} ms per histogram")
    for label, (seconds, size) in writer_figures(path, workdir).items():
        print(
            f"summary.json and significance.root, {label}: {1e3 * seconds:.3f} ms "
            f"per histogram, significance.root {size:.1f} MB for 3000"
        )
    for label, megabytes in import_memory().items():
        print(f"peak RSS of a process that imports {label}: {megabytes:.0f} MB")
    others = comparisons(args.roofit, args.bumphunter, args.bumphunter_npe)
    per_histogram = 1.0 / best_rate
    print(
        f"RooFit cross-check (every bin centre): {others['roofit']:.2f} s per "
        f"histogram = {others['roofit'] / per_histogram:.0f} times BumpNet's "
        f"{1e3 * per_histogram:.2f} ms"
    )
    if others["bumphunter"] is None:
        print("pyBumpHunter: not installed (pip install 'bumpnet-root[bench]')")
    else:
        print(
            f"pyBumpHunter {others['bumphunter_version']} "
            f"({args.bumphunter_npe} pseudo-experiments): "
            f"{others['bumphunter']:.3f} s per histogram = "
            f"{others['bumphunter'] / per_histogram:.0f} times BumpNet's"
        )
    print(f"machine at the end: {machine()}")


if __name__ == "__main__":
    main()

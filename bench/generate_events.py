"""Generate LHC events with Pythia 8 and write them in the Dark Machines CSV format.

Each process is generated with full parton showers and hadronisation at
sqrt(s) = 13 TeV. Multiparton interactions are off by default, which made the
generation 4 to 5 times faster on the development machine (--mpi turns them
on). Jets are anti-kt R = 0.4 jets
clustered with FastJet from all visible final-state particles except the
selected leptons and photons. Objects are smeared with the default
resolutions of bumpnet_root.events.resolution and written with E and pT in MeV,
the unit of the original Dark Machines files.

    nice -n 19 python bench/generate_events.py --out events.csv.gz --seed 1

Selection after smearing:

* electrons, muons: final state, not from hadronisation or hadron decays
  (Pythia status below 81), pT > 10 GeV, |eta| < 2.5, and isolated: the other
  visible particles within Delta R < 0.3 carry less than 10 % of their pT;
* photons: the same with pT > 20 GeV and |eta| < 2.37;
* jets: pT > 20 GeV, |eta| < 2.8. A jet within Delta R < 0.4 of a b quark
  with pT > 5 GeV is b-tagged with probability 0.70, any other jet with
  probability 0.01 (charm is not treated apart).

The processes are mixed in fixed numbers of events, not in proportion to their
cross sections. The event weight column is sigma * L / N with L = 10 fb^-1,
so a weighted histogram has the cross-section proportions. The missing
transverse momentum is that of the neutrinos (and other invisible particles)
in the event, without smearing. Events without any selected object are not
written.

--resonance-events N adds N events of a Z' boson decaying to muon pairs
(or electrons or quarks, --resonance-decay) at --resonance-mass, with a total
width forced to --resonance-width GeV.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from bumpnet_root.events.resolution import DEFAULT_RESOLUTIONS

SQRT_S = 13000.0
LUMINOSITY_PB = 10_000.0  # 10 fb^-1
MEV_PER_GEV = 1000.0
BATCH_EVENTS = 200

JET_PT_MIN, JET_ETA_MAX, JET_RADIUS = 20.0, 2.8, 0.4
LEPTON_PT_MIN, LEPTON_ETA_MAX = 10.0, 2.5
PHOTON_PT_MIN, PHOTON_ETA_MAX = 20.0, 2.37
ISOLATION_RADIUS, ISOLATION_FRACTION = 0.3, 0.10
B_TAG_RADIUS, B_QUARK_PT_MIN = 0.4, 5.0
B_TAG_EFFICIENCY, LIGHT_MISTAG_RATE = 0.70, 0.01
# Pythia status codes from 81 on mark hadronisation and decay products.
FIRST_NON_PROMPT_STATUS = 81


@dataclass(frozen=True)
class Process:
    """A Pythia process: the name written as process ID and its settings."""

    name: str
    settings: tuple[str, ...]


def standard_processes(
    dijet_pt_min: float, drell_yan_mass_min: float
) -> dict[str, Process]:
    """Return the background processes, keyed by their command-line name."""
    leptonic_w = ("24:onMode = off", "24:onIfAny = 11 13")
    return {
        "dijet": Process(
            "njets",
            ("HardQCD:all = on", f"PhaseSpace:pTHatMin = {dijet_pt_min}"),
        ),
        "wjets": Process(
            "w_jets",
            (
                "WeakBosonAndParton:qqbar2Wg = on",
                "WeakBosonAndParton:qg2Wq = on",
                "PhaseSpace:pTHatMin = 30.",
                *leptonic_w,
            ),
        ),
        "drellyan": Process(
            "dy_ll",
            (
                "WeakSingleBoson:ffbar2gmZ = on",
                f"PhaseSpace:mHatMin = {drell_yan_mass_min}",
                "23:onMode = off",
                "23:onIfAny = 11 13",
            ),
        ),
        "photon": Process(
            "gam_jets", ("PromptPhoton:all = on", "PhaseSpace:pTHatMin = 50.")
        ),
        "ttbar": Process("ttbar", ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on")),
    }


def resonance_process(mass: float, width: float, decay: str) -> Process:
    """Return a Z' (PDG id 32) of this mass and forced total width in GeV."""
    decay_ids = {"mu": "13", "e": "11", "jets": "1 2 3 4 5"}[decay]
    return Process(
        f"zprime_{decay}",
        (
            "NewGaugeBoson:ffbar2gmZZprime = on",
            "Zprime:gmZmode = 3",
            f"32:m0 = {mass}",
            "32:doForceWidth = on",
            f"32:mWidth = {width}",
            "32:onMode = off",
            f"32:onIfAny = {decay_ids}",
            f"PhaseSpace:mHatMin = {max(1.0, mass - 20 * width)}",
            f"PhaseSpace:mHatMax = {mass + 20 * width}",
        ),
    )


def make_pythia(process: Process, seed: int, mpi: bool):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in (
        f"Beams:eCM = {SQRT_S}",
        "Print:quiet = on",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        *process.settings,
    ):
        if not pythia.readString(line):
            raise ValueError(
                f"Pythia rejected the setting {line!r}; check its name and value "
                "against the Pythia 8 settings reference"
            )
    if not pythia.init():
        raise RuntimeError(
            f"Pythia initialisation failed for {process.name} with the settings "
            f"{process.settings}; check them (Print:quiet hides Pythia's messages)"
        )
    return pythia


@dataclass
class RawEvent:
    """Visible final-state particles and truth information of one event."""

    particles: np.ndarray  # (n, 6): px, py, pz, E, pid, status
    b_quarks: np.ndarray  # (k, 2): eta, phi of b quarks above B_QUARK_PT_MIN
    met: float
    met_phi: float


def read_event(event) -> RawEvent:
    """Copy the particles needed for the reconstruction out of a Pythia event."""
    rows = []
    b_quarks = []
    invisible_px = invisible_py = 0.0
    for index in range(event.size()):
        particle = event[index]
        if particle.idAbs() == 5 and particle.pT() > B_QUARK_PT_MIN:
            b_quarks.append((particle.eta(), particle.phi()))
        if not particle.isFinal():
            continue
        if not particle.isVisible():
            invisible_px += particle.px()
            invisible_py += particle.py()
            continue
        rows.append(
            (
                particle.px(),
                particle.py(),
                particle.pz(),
                particle.e(),
                particle.id(),
                particle.status(),
            )
        )
    return RawEvent(
        particles=np.array(rows, dtype=np.float64).reshape(-1, 6),
        b_quarks=np.array(b_quarks, dtype=np.float64).reshape(-1, 2),
        met=math.hypot(invisible_px, invisible_py),
        met_phi=math.atan2(-invisible_py, -invisible_px)
        if invisible_px or invisible_py
        else 0.0,
    )


def _pt_eta_phi(px, py, pz):
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    return pt, eta, np.arctan2(py, px)


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _smear(pt, energy, family, rng):
    """Return the smeared (pT, E) with the default resolution of this family."""
    resolution = DEFAULT_RESOLUTIONS[family]
    sigma = np.array([resolution.relative(value) for value in pt])
    factor = 1.0 + sigma * rng.standard_normal(pt.size)
    keep = factor > 0
    return pt * factor, energy * factor, keep


def select_leptons_photons(raw: RawEvent, rng):
    """Return (objects, used) for the isolated prompt electrons, muons, photons.

    ``objects`` are tuples (type, E, pT, eta, phi) in GeV after smearing, and
    ``used`` marks the particles they came from, which stay out of the jets.
    """
    p = raw.particles
    px, py, pz, energy, pid, status = p.T
    pt, eta, phi = _pt_eta_phi(px, py, pz)
    used = np.zeros(len(p), dtype=bool)
    objects = []
    prompt = status < FIRST_NON_PROMPT_STATUS
    for pdg, pt_min, eta_max in (
        (11, LEPTON_PT_MIN, LEPTON_ETA_MAX),
        (13, LEPTON_PT_MIN, LEPTON_ETA_MAX),
        (22, PHOTON_PT_MIN, PHOTON_ETA_MAX),
    ):
        candidates = np.nonzero(
            prompt
            & (np.abs(pid) == pdg)
            & (pt > 0.8 * pt_min)
            & (np.abs(eta) < eta_max)
        )[0]
        for index in candidates:
            near = _delta_r(eta[index], phi[index], eta, phi) < ISOLATION_RADIUS
            near[index] = False
            if pt[near].sum() >= ISOLATION_FRACTION * pt[index]:
                continue
            family = {11: "e", 13: "m", 22: "g"}[pdg]
            smeared_pt, smeared_e, keep = _smear(
                pt[index : index + 1], energy[index : index + 1], family, rng
            )
            used[index] = True
            if not keep[0] or smeared_pt[0] <= pt_min:
                continue
            if pdg == 22:
                symbol = "g"
            else:
                # PDG: e- is 11 and mu- is 13, so a positive id is negative charge.
                symbol = family + ("-" if pid[index] > 0 else "+")
            objects.append(
                (symbol, smeared_e[0], smeared_pt[0], eta[index], phi[index])
            )
    return objects, used


def cluster_jets(particle_sets: list[np.ndarray]):
    """Cluster each event's particles (px, py, pz, E rows) with anti-kt R = 0.4."""
    import awkward as ak
    import fastjet

    counts = [len(rows) for rows in particle_sets]
    flat = np.concatenate(particle_sets) if particle_sets else np.zeros((0, 4))
    records = ak.zip(
        {
            "px": flat[:, 0],
            "py": flat[:, 1],
            "pz": flat[:, 2],
            "E": flat[:, 3],
        },
        with_name="Momentum4D",
    )
    events = ak.unflatten(records, counts)
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_RADIUS)
    sequence = fastjet.ClusterSequence(events, definition)
    jets = sequence.inclusive_jets(min_pt=0.8 * JET_PT_MIN)
    return [
        np.column_stack(
            [ak.to_numpy(event[key]) for key in ("px", "py", "pz", "E")]
        ).reshape(-1, 4)
        for event in jets
    ]


def reconstruct_jets(jets: np.ndarray, b_quarks: np.ndarray, rng):
    """Return the smeared and b-tagged jets as (type, E, pT, eta, phi) tuples."""
    if len(jets) == 0:
        return []
    pt, eta, phi = _pt_eta_phi(jets[:, 0], jets[:, 1], jets[:, 2])
    smeared_pt, smeared_e, keep = _smear(pt, jets[:, 3], "j", rng)
    objects = []
    for index in range(len(jets)):
        if not keep[index] or smeared_pt[index] <= JET_PT_MIN:
            continue
        if abs(eta[index]) >= JET_ETA_MAX:
            continue
        is_b = bool(
            len(b_quarks)
            and np.any(
                _delta_r(eta[index], phi[index], b_quarks[:, 0], b_quarks[:, 1])
                < B_TAG_RADIUS
            )
        )
        tag_probability = B_TAG_EFFICIENCY if is_b else LIGHT_MISTAG_RATE
        symbol = "b" if rng.random() < tag_probability else "j"
        objects.append(
            (symbol, smeared_e[index], smeared_pt[index], eta[index], phi[index])
        )
    return objects


def format_event(
    event_id: int, process: str, weight: float, raw: RawEvent, objects
) -> str:
    """Return one line of the Dark Machines CSV format (E and pT in MeV)."""
    objects = sorted(objects, key=lambda item: -item[2])
    fields = [
        str(event_id),
        process,
        f"{weight:.6g}",
        f"{raw.met * MEV_PER_GEV:.7g}",
        f"{raw.met_phi:.6g}",
    ]
    for symbol, energy, pt, eta, phi in objects:
        fields.append(
            f"{symbol},{energy * MEV_PER_GEV:.7g},{pt * MEV_PER_GEV:.7g},"
            f"{eta:.6g},{phi:.6g}"
        )
    return ";".join(fields) + ";"


def generate_process(
    process: Process, n_events: int, seed: int, mpi: bool, rng
) -> tuple[list[tuple[RawEvent, list]], float]:
    """Generate ``n_events`` events of one process.

    Returns the events with at least one selected object, each as (raw event,
    objects), and the cross section of the process in pb.
    """
    pythia = make_pythia(process, seed, mpi)
    selected: list[tuple[RawEvent, list]] = []
    produced = 0
    while produced < n_events:
        batch: list[RawEvent] = []
        while len(batch) < min(BATCH_EVENTS, n_events - produced):
            if pythia.next():
                batch.append(read_event(pythia.event))
        leptons = []
        jet_inputs = []
        for raw in batch:
            objects, used = select_leptons_photons(raw, rng)
            leptons.append(objects)
            jet_inputs.append(raw.particles[~used, :4])
        for raw, objects, jets in zip(batch, leptons, cluster_jets(jet_inputs)):
            objects = objects + reconstruct_jets(jets, raw.b_quarks, rng)
            if objects:
                selected.append((raw, objects))
        produced += len(batch)
    # sigmaGen is in mb.
    return selected, pythia.infoPython().sigmaGen() * 1e9


def _open_output(out: Path, stack: contextlib.ExitStack) -> TextIO:
    """Open ``out`` for writing text, gzip-compressed when it ends in .gz."""
    if out.suffix != ".gz":
        return stack.enter_context(open(out, "w", encoding="ascii"))
    raw = stack.enter_context(open(out, "wb"))
    # Without a file name and time in the gzip header, the same seed gives the
    # same bytes whatever the output path.
    binary = stack.enter_context(
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    )
    return stack.enter_context(io.TextIOWrapper(binary, encoding="ascii"))


def generate(
    out: Path,
    plan: list[tuple[Process, int]],
    seed: int,
    mpi: bool,
) -> dict[str, dict[str, float]]:
    """Write the events of each (process, number of events) to ``out``.

    Returns per-process statistics: events generated and written, the cross
    section in pb and the generation rate.
    """
    rng = np.random.default_rng(seed)
    stats: dict[str, dict[str, float]] = {}
    event_id = 0
    with contextlib.ExitStack() as stack:
        handle = _open_output(out, stack)
        for number, (process, n_events) in enumerate(plan):
            start = time.perf_counter()
            events, sigma_pb = generate_process(
                process, n_events, seed + 1000 * (number + 1), mpi, rng
            )
            weight = sigma_pb * LUMINOSITY_PB / n_events
            for raw, objects in events:
                event_id += 1
                handle.write(format_event(event_id, process.name, weight, raw, objects))
                handle.write("\n")
            seconds = time.perf_counter() - start
            stats[process.name] = {
                "generated": n_events,
                "written": len(events),
                "sigma_pb": sigma_pb,
                "seconds": seconds,
                "events_per_second": n_events / seconds,
            }
            print(
                f"{process.name}: {n_events} events in {seconds:.1f} s "
                f"({n_events / seconds:.1f} events/s), {len(events)} written, "
                f"sigma = {sigma_pb:.4g} pb",
                file=sys.stderr,
            )
    return stats


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of the generator."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="output .csv or .csv.gz"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of Pythia and smearing"
    )
    parser.add_argument("--dijet", type=int, default=12000, help="QCD 2 -> 2 events")
    parser.add_argument(
        "--wjets", type=int, default=4000, help="W(-> e nu, mu nu) + jet events"
    )
    parser.add_argument(
        "--drellyan", type=int, default=4000, help="Z/gamma* -> ee, mumu events"
    )
    parser.add_argument(
        "--photon", type=int, default=2500, help="prompt photon + jet events"
    )
    parser.add_argument("--ttbar", type=int, default=1500, help="top pair events")
    parser.add_argument(
        "--dijet-pt-min",
        type=float,
        default=150.0,
        help="pTHat cut of the QCD events (GeV)",
    )
    parser.add_argument(
        "--drellyan-mass-min",
        type=float,
        default=150.0,
        help="lowest dilepton mass of the Drell-Yan events (GeV)",
    )
    parser.add_argument("--resonance-events", type=int, default=0, help="Z' events")
    parser.add_argument(
        "--resonance-mass", type=float, default=400.0, help="Z' mass (GeV)"
    )
    parser.add_argument(
        "--resonance-width", type=float, default=1.0, help="Z' total width (GeV)"
    )
    parser.add_argument(
        "--resonance-decay", choices=("mu", "e", "jets"), default="mu", help="Z' decay"
    )
    parser.add_argument(
        "--mpi", action="store_true", help="turn multiparton interactions on"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    processes = standard_processes(args.dijet_pt_min, args.drellyan_mass_min)
    plan = [
        (processes[key], getattr(args, key))
        for key in processes
        if getattr(args, key) > 0
    ]
    if args.resonance_events > 0:
        resonance = resonance_process(
            args.resonance_mass, args.resonance_width, args.resonance_decay
        )
        plan.append((resonance, args.resonance_events))
    start = time.perf_counter()
    stats = generate(args.out, plan, args.seed, args.mpi)
    seconds = time.perf_counter() - start
    total = sum(row["generated"] for row in stats.values())
    print(
        f"wrote {sum(row['written'] for row in stats.values())} of {total} events to "
        f"{args.out} in {seconds:.0f} s ({total / seconds:.1f} events/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

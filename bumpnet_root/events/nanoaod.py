"""ROOT inputs with NanoAOD-style object collections (TTree or RNTuple).

A collection is a set of branches with a common prefix: ``Muon_pt``,
``Muon_eta``, ``Muon_phi``, ``Muon_mass`` and, for electrons and muons,
``Muon_charge``. pT and mass are in GeV unless the TreeSource sets another unit.
A collection without a mass branch uses a fixed mass per object. Jets become
b-jets when a b-tag score branch is named and the score reaches its threshold.

Trees with other layouts can be adapted with RDataFrame ``defines``, which
create the collection branches from C++ expressions, and a ``filter``. The
CMS 2010 Z -> mu mu sample stores two muons per row in scalar branches, so
``Muon_pt`` is defined as ``ROOT::RVecD{pt1, pt2}`` (see docs/events.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .objects import FAMILIES, INPUT_TYPES
from .table import EventTable, unit_scale

logger = logging.getLogger(__name__)

ELECTRON_MASS = 0.000511  # GeV
MUON_MASS = 0.105658  # GeV


@dataclass(frozen=True)
class Collection:
    """Branches ``<prefix>pt``, ``eta``, ``phi`` (and ``mass``, ``charge``) of one type.

    ``family`` is the object type (``e``, ``m``, ``g``, ``b`` or ``j``).
    ``mass`` (GeV) is used when the collection has no mass branch. When
    ``btag`` names a score branch (without the prefix), objects whose score
    is at least ``btag_min`` are b-jets and the others have ``family``.
    """

    prefix: str
    family: str
    mass: float = 0.0
    btag: str | None = None
    btag_min: float = 0.5

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(
                f"collection {self.prefix!r}: unknown family {self.family!r}; use "
                f"{', '.join(FAMILIES)}"
            )

    @property
    def charged(self) -> bool:
        """True for electrons and muons, whose charge sets e-/e+ and m-/m+."""
        return self.family in ("e", "m")

    def branch(self, name: str) -> str:
        return f"{self.prefix}{name}"


NANOAOD_COLLECTIONS: tuple[Collection, ...] = (
    Collection("Electron_", "e", mass=ELECTRON_MASS),
    Collection("Muon_", "m", mass=MUON_MASS),
    Collection("Photon_", "g"),
    Collection("Jet_", "j"),
)


@dataclass(frozen=True)
class TreeSource:
    """ROOT files with a TTree or RNTuple of NanoAOD-style collections.

    ``tree`` is the name of the TTree or RNTuple; None takes the only one in
    the first file. ``defines`` (column name -> C++ expression) and
    ``filter`` (C++ expression) are applied first, in this order; only the
    RDataFrame engine can evaluate them. ``weight`` is a branch or C++
    expression with the event weight, used when the build is weighted.
    ``energy_unit`` is the unit of the pt and mass branches.
    """

    files: tuple[str, ...]
    tree: str | None = None
    collections: tuple[Collection, ...] = NANOAOD_COLLECTIONS
    defines: Mapping[str, str] = field(default_factory=dict)
    filter: str | None = None
    weight: str | None = None
    energy_unit: str = "GeV"

    def __post_init__(self) -> None:
        files = (self.files,) if isinstance(self.files, (str, PathLike)) else self.files
        object.__setattr__(self, "files", tuple(str(path) for path in files))
        if not self.files:
            raise ValueError("a TreeSource needs at least one file")
        object.__setattr__(self, "defines", MappingProxyType(dict(self.defines)))
        unit_scale(self.energy_unit)
        if not self.collections:
            raise ValueError("a TreeSource needs at least one collection")


_TREE_CLASSES = ("TTree", "ROOT::RNTuple", "ROOT::Experimental::RNTuple")


def find_tree_name(path: str | PathLike) -> str:
    """Return the name of the only TTree or RNTuple at the top of a ROOT file."""
    import uproot

    with uproot.open(path) as root_file:
        classes = root_file.classnames(recursive=False)
    names = sorted(
        {key.rsplit(";", 1)[0] for key, cls in classes.items() if cls in _TREE_CLASSES}
    )
    if len(names) == 1:
        return names[0]
    if not names:
        raise ValueError(
            f"{path} contains no TTree or RNTuple at the top level (objects: "
            f"{', '.join(sorted(classes)) or 'none'}); pass the tree name"
        )
    raise ValueError(
        f"{path} contains several trees ({', '.join(names)}); pass the tree name"
    )


def present_collections(
    collections: Iterable[Collection], columns: Iterable[str]
) -> list[Collection]:
    """Return the collections whose pt, eta and phi branches are all in ``columns``.

    Raises ValueError when none is present, naming the branches it looked for.
    """
    columns = set(columns)
    present = []
    for collection in collections:
        needed = [collection.branch(name) for name in ("pt", "eta", "phi")]
        if all(name in columns for name in needed):
            present.append(collection)
        else:
            logger.info(
                "collection %s skipped: branches %s not found",
                collection.prefix,
                ", ".join(name for name in needed if name not in columns),
            )
    if not present:
        looked_for = ", ".join(c.branch("pt") for c in collections)
        listed = ", ".join(sorted(columns)[:20])
        raise ValueError(
            f"none of the collections is in the input (looked for {looked_for}; the "
            f"input has {listed}{' ...' if len(columns) > 20 else ''}); name the "
            "branch prefixes of the collections, or define them"
        )
    return present


def _kind_codes(collection: Collection, charge, tag) -> np.ndarray:
    """Return the INPUT_TYPES index of each object of one collection."""
    if collection.charged:
        negative = INPUT_TYPES.index(f"{collection.family}-")
        positive = INPUT_TYPES.index(f"{collection.family}+")
        if charge is None:
            return np.full(len(tag), negative, dtype=np.int8)
        return np.where(charge < 0, negative, positive).astype(np.int8)
    own = INPUT_TYPES.index(collection.family)
    if collection.btag is None:
        return np.full(len(tag), own, dtype=np.int8)
    return np.where(tag >= collection.btag_min, INPUT_TYPES.index("b"), own).astype(
        np.int8
    )


def read_nanoaod(source: TreeSource, need_charge: bool = False) -> EventTable:
    """Read the collections of a TreeSource with uproot into an EventTable.

    This is the numpy engine's reader. It cannot evaluate ``defines`` or
    ``filter`` and raises ValueError when they are set. With ``need_charge``,
    a missing charge branch of an electron or muon collection is an error.
    Without it, such objects count as negative, which does not matter when
    charges are folded.
    """
    import uproot

    if source.defines or source.filter:
        raise ValueError(
            "the numpy engine reads branches with uproot and cannot evaluate the "
            "C++ expressions of defines and filter; use the RDataFrame engine"
        )
    scale = unit_scale(source.energy_unit)
    tree_name = source.tree or find_tree_name(source.files[0])
    parts = []
    for path in source.files:
        with uproot.open(path) as root_file:
            tree = root_file[tree_name]
            columns = set(tree.keys())
            collections = present_collections(source.collections, columns)
            if source.weight is not None and source.weight not in columns:
                raise ValueError(
                    f"{path}: weight branch {source.weight!r} not found; the numpy "
                    "engine takes a branch name only"
                )
            branches_to_read = [source.weight] if source.weight else []
            for collection in collections:
                for name in ("pt", "eta", "phi", "mass", "charge"):
                    if collection.branch(name) in columns:
                        branches_to_read.append(collection.branch(name))
                if collection.btag is not None:
                    branches_to_read.append(collection.branch(collection.btag))
            arrays = tree.arrays(sorted(set(branches_to_read)))
        parts.append(
            _collections_to_table(arrays, collections, source, scale, need_charge)
        )
    from .table import concatenate

    return concatenate(parts)


def _collections_to_table(arrays, collections, source, scale, need_charge):
    import awkward as ak

    per_collection = []
    for collection in collections:
        pt = arrays[collection.branch("pt")]
        fields = {
            "pt": ak.values_astype(pt, np.float64) * scale,
            "eta": ak.values_astype(arrays[collection.branch("eta")], np.float64),
            "phi": ak.values_astype(arrays[collection.branch("phi")], np.float64),
        }
        if collection.branch("mass") in arrays.fields:
            fields["mass"] = (
                ak.values_astype(arrays[collection.branch("mass")], np.float64) * scale
            )
        else:
            fields["mass"] = ak.zeros_like(fields["pt"]) + collection.mass
        counts = ak.to_numpy(ak.num(pt))
        flat_charge = None
        if collection.charged:
            if collection.branch("charge") in arrays.fields:
                flat_charge = ak.to_numpy(
                    ak.flatten(arrays[collection.branch("charge")])
                )
            elif need_charge:
                raise ValueError(
                    f"branch {collection.branch('charge')} not found; it is needed "
                    "to tell positive from negative charges (or fold the charges)"
                )
        flat_tag = np.zeros(int(counts.sum()))
        if collection.btag is not None:
            flat_tag = ak.to_numpy(
                ak.flatten(arrays[collection.branch(collection.btag)])
            )
        kind = ak.unflatten(_kind_codes(collection, flat_charge, flat_tag), counts)
        per_collection.append(ak.zip({**fields, "kind": kind}))
    merged = ak.concatenate(per_collection, axis=1)
    counts = ak.to_numpy(ak.num(merged))
    flat = ak.flatten(merged)
    pt = ak.to_numpy(flat["pt"])
    eta = ak.to_numpy(flat["eta"])
    phi = ak.to_numpy(flat["phi"])
    mass = ak.to_numpy(flat["mass"])
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    energy = np.sqrt(px * px + py * py + pz * pz + mass * mass)
    if source.weight:
        weight = ak.to_numpy(arrays[source.weight]).astype(np.float64)
    else:
        weight = np.ones(counts.size)
    return EventTable(
        offsets=np.concatenate(([0], np.cumsum(counts, dtype=np.int64))),
        kind=ak.to_numpy(flat["kind"]),
        pt=pt,
        eta=eta,
        phi=phi,
        energy=energy,
        weight=weight,
    )


_WRITE_GROUPS = (("Electron", ("e-", "e+")), ("Muon", ("m-", "m+")), ("Photon", ("g",)))


def write_nanoaod(
    table: EventTable, path: str | PathLike, tree: str = "Events"
) -> Path:
    """Write an EventTable as a TTree with NanoAOD-style collections.

    Collections Electron, Muon, Photon and Jet get branches ``pt``, ``eta``,
    ``phi``, ``mass`` (GeV); Electron and Muon also ``charge``, and Jet also
    ``btag`` (1 for b-jets, 0 otherwise). The mass is sqrt(E^2 - p^2), set to
    0 where rounding makes E^2 - p^2 negative. The branch ``weight`` contains
    the event weights. Read it back with ``Collection("Jet_", "j", btag="btag")``.
    """
    import awkward as ak
    import uproot

    px, py, pz, energy = table.four_momenta()
    mass = np.sqrt(np.maximum(energy**2 - (px**2 + py**2 + pz**2), 0.0))
    event = np.repeat(np.arange(table.n_events), np.diff(table.offsets))
    symbols = np.array(INPUT_TYPES)[table.kind]
    branches = {}
    groups = (*_WRITE_GROUPS, ("Jet", ("j", "b")))
    for name, members in groups:
        chosen = np.isin(symbols, members)
        counts = np.bincount(event[chosen], minlength=table.n_events)
        fields = {
            "pt": table.pt[chosen],
            "eta": table.eta[chosen],
            "phi": table.phi[chosen],
            "mass": mass[chosen],
        }
        if name in ("Electron", "Muon"):
            fields["charge"] = np.where(
                np.char.endswith(symbols[chosen].astype(str), "-"), -1, 1
            ).astype(np.int32)
        if name == "Jet":
            fields["btag"] = (symbols[chosen] == "b").astype(np.float32)
        branches[name] = ak.unflatten(ak.zip(fields), counts)
    branches["weight"] = table.weight
    path = Path(path)
    with uproot.recreate(path) as root_file:
        root_file.mktree(
            tree,
            branches,
            counter_name=lambda counted: f"n{counted}",
            field_name=lambda outer, inner: f"{outer}_{inner}" if outer else inner,
        )
    return path

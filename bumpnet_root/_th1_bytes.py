"""TH1D and TH1F read from their bytes, for the uproot reader of a scan.

uproot builds each histogram as a tree of Python objects, about 1 ms per TH1D
on the benchmark machine. A scan needs few of the members: names, titles,
the x axis, the bin contents and fSumw2. :func:`read_fields` takes the
decompressed bytes of an object from uproot (which also finds the key and
decompresses it) and reads those members in the layout of the current ROOT
versions: TH1D or TH1F version 3 on TH1 version 8 and TAxis version 10.

Every other member is skipped by its byte count, and each step is checked:
versions, byte counts that end where the object ends, array lengths. When
anything differs (another version, bin labels, an axis with modified
labels, an old file without byte counts), :func:`read_fields` returns None
and the caller reads the object with uproot as before, with uproot's
messages. tests/test_th1_bytes.py compares both ways on many histograms.

The skipped members are checked for their byte counts and versions only.
So a histogram is scanned even when its list of functions contains an object
that uproot cannot read (a TEfficiency, for example), as the PyROOT reader
scans it, or when bytes inside the list or inside fOption are damaged.
uproot reports such a histogram as failed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

_BYTE_COUNT_MASK = 0x40000000
_VERSION_BYTE_COUNT_MASK = 0x4000
_IS_REFERENCED = 1 << 4

_BYTE = struct.Struct(">B")
_SHORT = struct.Struct(">h")
_INT = struct.Struct(">i")
_HEADER = struct.Struct(">IH")
_TOBJECT = struct.Struct(">II")
_AXIS_RANGE = struct.Struct(">idd")
# fFirst, fLast, fBits2, fTimeDisplay
_AXIS_TAIL = struct.Struct(">iiHB")
# fBarOffset, fBarWidth, then eight doubles from fEntries to fNormFactor
_TH1_SUMS = struct.Struct(">hh8d")
_TH1_TAIL = struct.Struct(">ii")

_CONTENT_TYPES = {"TH1D": np.dtype(">f8"), "TH1F": np.dtype(">f4")}


@dataclass(frozen=True)
class Th1Fields:
    """The members of a TH1D or TH1F that a scan reads."""

    name: str
    title: str
    x_title: str
    n_bins: int
    x_min: float
    x_max: float
    x_bins: np.ndarray
    cells: np.ndarray
    sumw2: np.ndarray


class _Layout(Exception):
    """The bytes differ from the layout this module reads."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...]:
        if self.position + layout.size > len(self.data):
            raise _Layout("past the end")
        values = layout.unpack_from(self.data, self.position)
        self.position += layout.size
        return values

    def header(self, versions: tuple[int, ...] = ()) -> int:
        """Read a byte count and a version, and return where the object ends.

        A version outside ``versions`` (when given) raises _Layout.
        """
        count, found = self.unpack(_HEADER)
        if not count & _BYTE_COUNT_MASK:
            raise _Layout("no byte count")
        if versions and found not in versions:
            raise _Layout(f"version {found}, not one of {versions}")
        # The count covers the version and everything after it.
        return self.position - 2 + (count & ~_BYTE_COUNT_MASK)

    def skip_object(self, versions: tuple[int, ...] = ()) -> None:
        self.position = self.header(versions)

    def end(self, stop: int) -> None:
        if self.position != stop:
            raise _Layout(f"object ends at {self.position}, not {stop}")

    def string(self) -> str:
        (length,) = self.unpack(_BYTE)
        if length == 255:
            (length,) = self.unpack(_INT)
        stop = self.position + length
        if stop > len(self.data):
            raise _Layout("string past the end")
        # uproot decodes text the same way: surrogates keep bytes that are
        # not UTF-8, which the scan then reports.
        text = self.data[self.position : stop].decode("utf-8", "surrogateescape")
        self.position = stop
        return text

    def array(self, dtype: np.dtype) -> np.ndarray:
        (size,) = self.unpack(_INT)
        stop = self.position + size * dtype.itemsize
        if size < 0 or stop > len(self.data):
            raise _Layout("array past the end")
        values = np.frombuffer(self.data, dtype, size, self.position)
        self.position = stop
        return values.astype(dtype.newbyteorder("="))

    def named(self) -> tuple[str, str]:
        """Read a TNamed with its TObject, and return its name and title."""
        stop = self.header((1,))
        (version,) = self.unpack(_SHORT)
        if version & _VERSION_BYTE_COUNT_MASK:
            self.position += 4
        _, bits = self.unpack(_TOBJECT)
        if bits & _IS_REFERENCED:
            self.position += 2
        name = self.string()
        title = self.string()
        self.end(stop)
        return name, title

    def null_pointer(self) -> None:
        (tag,) = self.unpack(_INT)
        if tag != 0:
            raise _Layout("a pointer that is not null")

    def x_axis(self) -> tuple[str, int, float, float, np.ndarray]:
        stop = self.header((10,))
        _, title = self.named()
        self.skip_object((4,))  # TAttAxis
        n_bins, x_min, x_max = self.unpack(_AXIS_RANGE)
        x_bins = self.array(np.dtype(">f8"))
        self.unpack(_AXIS_TAIL)
        self.string()  # fTimeFormat
        # fLabels and fModLabs: bin labels or changed labels go to uproot.
        self.null_pointer()
        self.null_pointer()
        self.end(stop)
        return title, n_bins, x_min, x_max, x_bins


def read_fields(data: bytes, class_name: str) -> Th1Fields | None:
    """Return the scan's members of a TH1D or TH1F, or None for uproot to read.

    ``data`` is the decompressed object as its key stores it.
    """
    content_type = _CONTENT_TYPES.get(class_name)
    if content_type is None:
        return None
    reader = _Reader(data)
    try:
        stop = reader.header((3,))
        th1_stop = reader.header((8,))
        name, title = reader.named()
        # TAttLine, TAttFill and TAttMarker (version 3 in ROOT 6.40 files). A
        # damaged version goes to uproot, which reports it.
        for versions in ((1, 2), (1, 2), (2, 3)):
            reader.skip_object(versions)
        (n_cells,) = reader.unpack(_INT)
        x_title, n_bins, x_min, x_max, x_bins = reader.x_axis()
        reader.skip_object((10,))  # fYaxis
        reader.skip_object((10,))  # fZaxis
        reader.unpack(_TH1_SUMS)
        reader.array(np.dtype(">f8"))  # fContour
        sumw2 = reader.array(np.dtype(">f8"))
        reader.string()  # fOption
        reader.skip_object((5,))  # fFunctions, a TList
        (buffer_size,) = reader.unpack(_INT)
        # A flag byte precedes the array.
        reader.position += 1 + 8 * max(buffer_size, 0)
        reader.unpack(_TH1_TAIL)
        reader.end(th1_stop)
        cells = reader.array(content_type)
        reader.end(stop)
    except _Layout:
        return None
    if reader.position != len(data):
        return None
    if n_bins < 1 or n_cells != n_bins + 2 or cells.size != n_cells:
        return None
    if sumw2.size not in (0, n_cells):
        return None
    return Th1Fields(name, title, x_title, n_bins, x_min, x_max, x_bins, cells, sumw2)


def object_bytes(key: Any) -> bytes:
    """Return the decompressed bytes of the object of an uproot ``ReadOnlyKey``."""
    chunk, cursor = key.get_uncompressed_chunk_cursor()
    start = cursor.index
    stop = start + key.data_uncompressed_bytes
    return bytes(chunk.raw_data[start:stop])

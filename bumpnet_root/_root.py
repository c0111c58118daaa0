"""Lazy access to PyROOT.

Every other module imports ROOT through :func:`import_root`, so that the package
works without ROOT installed and pays ROOT's start-up time only when a ROOT feature
is used.
"""

from __future__ import annotations

import sys
import warnings
from types import ModuleType

from .errors import MissingDependencyError

# The ROOT wheels on PyPI (ROOT 6.40) emit this UserWarning on import.
_ALPHA_WARNING_PATTERN = r"\s*This distribution of ROOT is in alpha stage"


def import_root(purpose: str = "this feature") -> ModuleType:
    """Import PyROOT in batch mode and return the ``ROOT`` module.

    ``purpose`` completes the error message "PyROOT is needed for ...". Raises
    MissingDependencyError when ROOT cannot be imported.
    """
    module = sys.modules.get("ROOT")
    first_import = module is None
    if module is None:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=_ALPHA_WARNING_PATTERN, category=UserWarning
            )
            try:
                import ROOT as module
            except ImportError as err:
                raise MissingDependencyError(
                    f"PyROOT is needed for {purpose}, but importing it failed "
                    f"({err}); install it with `pip install 'bumpnet-root[root]'` "
                    "or use a conda environment with root"
                ) from err
    # Batch mode keeps ROOT from opening windows or connecting to a display.
    # gROOT starts the interpreter, which reads ROOT's module files.
    if not module.gROOT.IsBatch():
        module.gROOT.SetBatch(True)
    if first_import:
        release_module_file_pages()
    return module


def release_module_file_pages() -> None:
    """Unmap the pages of ROOT's module files (.pcm) that this process touched.

    ROOT's interpreter reads the module file of every library when it starts,
    about 170 MB with the PyPI ROOT 6.40, and keeps them mapped read-only.
    A scan looks up little in them afterwards and faults in what it needs
    again, so the pages need not count against the process: a ``--jobs 1``
    scan of 30,000 histograms took about 180 MB less. The pages stay in the
    page cache, which the system reclaims when it needs the memory. Linux
    only; elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import mmap

    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
        maps = open("/proc/self/maps", encoding="ascii", errors="replace")
    except (AttributeError, OSError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with maps:
        for line in maps:
            fields = line.split()
            if len(fields) < 6 or fields[1] != "r--p":
                continue
            if not fields[5].endswith(".pcm"):
                continue
            start, end = (int(value, 16) for value in fields[0].split("-"))
            madvise(start, end - start, mmap.MADV_DONTNEED)


def is_root_object(obj: object) -> bool:
    """Return True when ``obj`` is a C++ object bound by PyROOT (cppyy).

    Never imports ROOT: when ROOT is not in ``sys.modules``, no ROOT object can
    exist, so it returns False.
    """
    if "ROOT" not in sys.modules:
        return False
    return type(obj).__module__.startswith("cppyy.gbl")

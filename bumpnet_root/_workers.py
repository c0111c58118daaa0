"""The start method of the scan's worker processes, importable without torch.

On Linux, workers are forked from a fork server that imported the scan's
modules, torch and ROOT once and ran them once
(:mod:`bumpnet_root._worker_imports`). A worker then starts in milliseconds
instead of importing for about 3 s, and shares the memory of those imports
with the other workers until it writes to it. The server ran torch with one
intra-op thread and ROOT without implicit multithreading. So it has no
thread pool that a forked copy could find locked. The scan's own process,
which may have one, is never forked. The process that writes ``significance.root``
during a scan with workers comes from the same server
(:class:`bumpnet_root.stream.StreamingOutputs`). On other systems these
processes are spawned.

:func:`start_worker_server` starts the server ahead of the scan, so that its
imports run on another core while the calling process does its own.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from multiprocessing.context import BaseContext

logger = logging.getLogger(__name__)

PRELOAD = ["bumpnet_root._worker_imports"]


def worker_context() -> BaseContext:
    """Return the multiprocessing context for scan workers."""
    # NOTE: the fork server is tested on Linux only. macOS has one too, but
    # forking there is unsafe for some system libraries, so it spawns.
    linux = sys.platform.startswith("linux")
    if not linux or "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start_worker_server() -> None:
    """Start the fork server now, if workers use one; see the module docstring."""
    context = worker_context()
    if context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    try:
        forkserver.ensure_running()
    except OSError as error:
        # The pool starts the server again when it needs it and reports then.
        logger.debug("the fork server for scan workers did not start: %s", error)


def parent_logging() -> tuple[int, str | None]:
    """Return the package's log level and the format of the root handler, if any."""
    level = logging.getLogger("bumpnet_root").getEffectiveLevel()
    handlers = logging.getLogger().handlers
    formatter = handlers[0].formatter if handlers else None
    return level, (formatter._fmt if formatter is not None else None)


def use_parent_logging(level: int, log_format: str | None) -> None:
    """Log as the parent process does, from :func:`parent_logging`'s values.

    A worker starts without logging handlers; with the parent's level and
    format, its lines read like the parent's on stderr.
    """
    if log_format is not None:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(log_format))
        logging.getLogger().addHandler(handler)
        logging.getLogger("bumpnet_root").setLevel(level)

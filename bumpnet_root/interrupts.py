"""SIGINT and SIGTERM handling for the command line.

``bumpnet`` turns SIGTERM into :class:`Terminated`, a KeyboardInterrupt, so a
batch system that stops a job gets the same clean shutdown as Ctrl-C: the
results so far are written and the exit status is 143. Writes of output files
run inside :func:`interrupts_deferred`, so neither signal stops them halfway.
This module imports only the standard library, so ``bumpnet`` can install the
handler before it loads torch.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM.

    It derives from KeyboardInterrupt, so the code that saves the results of an
    interrupted scan handles SIGTERM and SIGINT alike.
    """


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(f"received signal {signal.Signals(signum).name}")


@contextmanager
def sigterm_raises_terminated() -> Iterator[None]:
    """Make SIGTERM raise :class:`Terminated` inside the block.

    Does nothing outside the main thread, where Python cannot set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block is finished.

    A signal received inside the block is passed to the previous handler when
    the block ends, so the KeyboardInterrupt (or Terminated) comes after a
    complete write instead of in the middle of it. Does nothing outside the
    main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def remember(signum: int, frame: Any) -> None:
        pending.append(signum)

    previous = {
        number: signal.signal(number, remember) for number in _INTERRUPT_SIGNALS
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if pending:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(pending[0])

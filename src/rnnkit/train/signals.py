"""Stopping a run politely: Ctrl-C, and what schedulers, ``timeout``, systemd and container
runtimes send (SIGTERM) or a closed terminal (SIGHUP), each ending the step with a checkpoint."""

from __future__ import annotations

import signal

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP during training, after the checkpoint was written; the process
    should exit with ``exit_code`` (128 + the signal, as a shell reports a signal's end)."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


def install_stop_handlers(handler) -> dict:
    """Route ``STOP_SIGNALS`` to ``handler``; returns the previous handlers (none off the main thread)."""
    previous = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # signals can only be caught on the main thread
        pass
    return previous

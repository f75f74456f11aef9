"""``--nproc N``: the same command on N ranks of this machine, started through torchrun's own launcher.

torchrun (``torch.distributed.run``) starts the workers, gives them a rendezvous, watches them and,
with ``--max-restarts``, restarts the group when one dies. ``--nproc N`` is a shortcut to it for
one machine; for several machines (or restarts) run torchrun itself, ``-m rnnkit train ...``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

from rnnkit.errors import UserError
from rnnkit.train import distributed


def without_nproc(argv: list[str]) -> list[str]:
    """The command line a worker runs: this one without ``--nproc`` (the workers do not launch again)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--nproc":
            skip = True
        elif not word.startswith("--nproc="):
            kept.append(word)
    return kept


def launch(argv: list[str], nproc: int) -> int:
    """Run ``rnnkit ARGV`` on ``nproc`` local ranks; the exit code is the first failing rank's, else 0."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    if nproc < 1:
        raise UserError(f"--nproc {nproc}: give 1 or more processes")
    # Each rank gets its share of the cores (torchrun would give each one thread, with a warning).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    # torchrun's own reports stay quiet: the workers say what happened, in one line
    for name in [*logging.root.manager.loggerDict, "torch.distributed.elastic"]:
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        run(parse_args(["--standalone", "--nproc-per-node", str(nproc), "-m", "rnnkit", *without_nproc(argv)]))
    except ChildFailedError as err:
        codes = [failure.exitcode for failure in err.failures.values()]
        return next((code for code in codes if code > 0), 1)
    except SignalException as err:  # Ctrl-C or SIGTERM: the workers checkpointed and said how to resume
        return 128 + int(err.sigval)
    return 0


def as_rank(train: Callable[[], int]) -> int:
    """Train as this rank: only rank 0 prints (one progress bar, one summary) and finishes the run
    (test scores, plots); the others stay quiet and stop when training ends, unless they crash,
    whose traceback reaches the real stderr."""
    if distributed.current().leader:
        return train()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            return train()
        except distributed.FollowerDone:
            return 0

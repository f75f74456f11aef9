"""The ``rnnkit`` command: subcommands as glue over the task modules.

Every expected failure is a ``UserError``: printed as one line naming the file
and the fix, exit code 2, no traceback.
"""

from __future__ import annotations

import sys

from rnnkit.cli.parser import build_parser
from rnnkit.cli.train import LONG_RUN_DROPOUT, LONG_RUN_MINUTES, cmd_train
from rnnkit.cli.use import (
    cmd_cache,
    cmd_corpora,
    cmd_eval,
    cmd_experiment,
    cmd_predict,
    cmd_report,
    cmd_sample,
    cmd_viz,
)
from rnnkit.errors import UserError
from rnnkit.runtime import keep_freed_memory
from rnnkit.train.loop import Interrupted

__all__ = ["LONG_RUN_DROPOUT", "LONG_RUN_MINUTES", "build_parser", "main"]

COMMANDS = {"train": cmd_train, "sample": cmd_sample, "predict": cmd_predict, "eval": cmd_eval, "report": cmd_report,
            "viz": cmd_viz, "corpora": cmd_corpora, "cache": cmd_cache, "experiment": cmd_experiment}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        return COMMANDS[args.command](args)
    except UserError as err:
        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        print(f"rnnkit: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

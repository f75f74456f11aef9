"""The ``rnnkit`` command: subcommands as glue over the task modules.

Every expected failure is a ``UserError``: printed as one line naming the file
and the fix, exit code 2, no traceback.
"""

from __future__ import annotations

import sys

from rnnkit.cli.parser import build_parser
from rnnkit.cli.train import cmd_resume, cmd_train, modern_argv, refuse_foreign
from rnnkit.cli.use import cmd_cache, cmd_corpora, cmd_experiment, cmd_export, cmd_report, cmd_serve, cmd_verb
from rnnkit.errors import UserError
from rnnkit.runtime import keep_freed_memory
from rnnkit.train import distributed
from rnnkit.train.generations import DISK_ERRORS
from rnnkit.train.signals import Interrupted

__all__ = ["build_parser", "main"]

COMMANDS = {"train": cmd_train, "resume": cmd_resume, "sample": cmd_verb,
            "predict": cmd_verb, "eval": cmd_verb, "viz": cmd_verb,
            "report": cmd_report, "serve": cmd_serve, "export": cmd_export, "corpora": cmd_corpora, "cache": cmd_cache,
            "experiment": cmd_experiment}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    words = modern_argv(sys.argv[1:] if argv is None else list(argv))
    args, unknown = parser.parse_known_args(words)
    args.argv = words  # --nproc starts the workers with the same words
    if unknown and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    keep_freed_memory()
    finished = False
    try:
        if unknown:
            refuse_foreign(args.task, unknown)
        code = COMMANDS[args.command](args)
        finished = True
        return code
    except UserError as err:
        if distributed.current().leader:  # every rank meets the same bad input; one says so
            print(f"rnnkit: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        if distributed.current().leader:
            print(f"rnnkit: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:
        if err.errno not in DISK_ERRORS:
            raise
        print(f"rnnkit: error: {err.filename or 'a file'}: {err.strerror}; free some space (or make the folder "
              "writable) and run the command again", file=sys.stderr)
        return 2
    finally:
        distributed.leave(finished)


if __name__ == "__main__":
    sys.exit(main())

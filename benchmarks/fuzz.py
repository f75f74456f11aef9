"""Coverage-guided fuzzing of every reader a user feeds (atheris), bounded in time; prints one table.

The targets are tests/fuzz_targets.py's, which tests/test_fuzz.py drives with hypothesis:
a reader may return or raise ``UserError``; anything else is a crash, written to
``fuzz-crashes/TARGET-*`` with the input that caused it. Each target runs in its own
process (atheris ends the process when it stops), seeded with a valid input, with rnnkit's
own modules instrumented for coverage.

    pip install -e ".[fuzz]"
    python benchmarks/fuzz.py [--seconds 60] [--target "config.json"]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))


def fuzz_one(name: str, seconds: int, crashes: Path) -> None:
    """In this process: fuzz one target until the time is up or it crashes."""
    import atheris

    with atheris.instrument_imports(include=["rnnkit"]):
        from fuzz_targets import SEEDS, TARGETS

        import rnnkit.ngram.arpa
        import rnnkit.tasks  # every task's loader, so their branches count as coverage
        from rnnkit.errors import UserError
    assert rnnkit.tasks.TASKS and rnnkit.ngram.arpa
    target, seed = TARGETS[name], SEEDS[name]
    corpus = Path(tempfile.mkdtemp(prefix="corpus-"))
    (corpus / "seed").write_bytes(seed)

    def one_input(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder, contextlib.suppress(UserError):
            target(data, Path(folder))

    crashes.mkdir(exist_ok=True)
    prefix = crashes / f"{name.replace(' ', '-').replace('.', '-')}-"
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", f"-artifact_prefix={prefix}",
                   "-rss_limit_mb=4096", str(corpus)], one_input)
    atheris.Fuzz()


def run_all(names: list[str], seconds: int, crashes: Path) -> list[tuple[str, str, str, str]]:
    rows = []
    for name in names:
        done = subprocess.run([sys.executable, __file__, "--one", name, "--seconds", str(seconds),
                               "--crashes", str(crashes)], capture_output=True, text=True)
        log = done.stdout + done.stderr
        runs = re.findall(r"#(\d+)\s", log)
        coverage = re.findall(r"cov: (\d+)", log)
        crashed = "Uncaught Python exception" in log or done.returncode not in (0,)
        found = re.search(r"^(\w+(?:Error|Exception)): (.*)$", log, re.M)
        rows.append((name, runs[-1] if runs else "?", coverage[-1] if coverage else "?",
                     f"{found.group(1)}: {found.group(2)[:60]}" if crashed and found else
                     ("crash" if crashed else "none")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("--target", action="append", help="fuzz only these (default: all)")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        fuzz_one(args.one, args.seconds, args.crashes)
        return
    from fuzz_targets import TARGETS

    rows = run_all(args.target or list(TARGETS), args.seconds, args.crashes)
    print(f"| target | executions in {args.seconds} s | coverage (edges) | crash found |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

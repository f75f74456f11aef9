"""The race: `rnnkit train lm` with its defaults against a small character Transformer.

For each budget, one after the other on this machine: rnnkit trains its default model
(the budget table's row for this budget and text, as `rnnkit train FILE --minutes M`
chooses it), then the Transformer of `char_transformer.py` trains for the same minutes
of training time on the same split and the same character ids. Both are scored on the
whole validation split: the LSTM with its state carried (rnnkit's own validation, the
final weights), the Transformer over sliding windows of its full context. Prints one table.

    python benchmarks/race.py ../shared/data/tinyshakespeare.txt [--minutes 1 5 10 30]
    python benchmarks/race.py ../shared/data/eng-fra.txt --english-side --minutes 10 30
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from char_transformer import CharTransformer, recipe_for, sliding_nats, train_for

from rnnkit.cli import build_parser
from rnnkit.cli.train import train_request
from rnnkit.runtime import keep_freed_memory
from rnnkit.tasks.lm import run as lm_run
from rnnkit.tasks.lm.commands import budget_defaults
from rnnkit.tasks.runs import run_tokenizer
from rnnkit.train import checkpoint
from rnnkit.train.precision import resolve_precision


def english_side(pairs: Path, folder: Path) -> Path:
    """The first column of a tab-separated pairs file, each distinct line once, in order of first use."""
    seen: dict[str, None] = {}
    with open(pairs, encoding="utf-8") as handle:
        for line in handle:
            seen.setdefault(line.split("\t", 1)[0].strip(), None)
    path = folder / f"{pairs.stem}.english.txt"
    path.write_text("\n".join(line for line in seen if line) + "\n", encoding="utf-8")
    return path


def lstm_leg(text: Path, minutes: float, extra: list[str], run: Path) -> tuple[dict, str]:
    """rnnkit's run, configured as the command configures it; its final scores and its shape."""
    request = train_request(build_parser().parse_args(
        ["train", "lm", str(text), "--minutes", str(minutes), "--no-progress", *extra]))
    budget_defaults(request)
    model, train, data = (request.sections[name] for name in ("model", "train", "data"))
    _, final = lm_run.train([str(text)], model, train, data, str(run), "cpu", False)
    shape = (f"{model.num_layers}x{model.hidden_size} {model.cell}, wd {model.weight_drop:g}, "
             f"locked {model.locked_dropout:g}")
    return final, shape


def transformer_leg(run: Path, minutes: float, precision: str) -> tuple[int, float, str, int]:
    """The Transformer on the LSTM run's own ids: steps, validation nats per character, recipe, size."""
    train_ids, val_ids = (checkpoint.load_ids(run / name) for name in (checkpoint.TRAIN_IDS, checkpoint.VAL_IDS))
    recipe = recipe_for(minutes)
    torch.manual_seed(1337)
    model = CharTransformer(run_tokenizer(run).vocab_size, recipe)
    steps = train_for(model, train_ids, minutes, precision)
    shape = f"{recipe.layers}L {recipe.heads}H {recipe.width}w ctx {recipe.context} drop {recipe.dropout:g}"
    return steps, sliding_nats(model, val_ids, precision), shape, sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 10, 30])
    parser.add_argument("--english-side", action="store_true",
                        help="race on the first column of a tab-separated pairs file, deduplicated")
    args, extra = parser.parse_known_args()
    keep_freed_memory()  # as `rnnkit train` does
    precision = resolve_precision("auto", torch.device("cpu"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        text = english_side(args.path, Path(tmp)) if args.english_side else args.path
        for minutes in args.minutes:
            run = Path(tmp) / f"lstm-{minutes:g}"
            final, lstm_shape = lstm_leg(text, minutes, extra, run)
            print(f"  lstm {minutes:g} min: {final['nats_per_char']:.4f} nats/char ({lstm_shape})", flush=True)
            steps, nats, shape, size = transformer_leg(run, minutes, precision)
            print(f"  transformer {minutes:g} min: {nats:.4f} nats/char ({shape}, {size:,} parameters)", flush=True)
            rows.append((minutes, final["step"], final["nats_per_char"], lstm_shape, steps, nats, shape))
    print(f"\nThe race on {args.path.name}{' (English side, deduplicated)' if args.english_side else ''}, "
          f"{precision}, {torch.get_num_threads()} threads; validation nats/char, lower is better")
    print(f"{'budget':>7} | {'LSTM steps':>10} {'LSTM':>7} | {'Transf. steps':>13} {'Transf.':>7} | "
          f"{'LSTM/Transf.':>12} | models")
    for minutes, lstm_steps, lstm_nats, lstm_shape, steps, nats, shape in rows:
        print(f"{minutes:>6g}m | {lstm_steps:>10} {lstm_nats:>7.4f} | {steps:>13} {nats:>7.4f} | "
              f"{lstm_nats / nats:>12.3f} | {lstm_shape}; {shape}")


if __name__ == "__main__":
    main()

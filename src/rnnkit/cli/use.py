"""Commands over a trained run: sample, predict, eval; and corpora, experiment."""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from pathlib import Path

from rnnkit.cli.forecast import eval_forecaster, predict_forecaster
from rnnkit.cli.translate import eval_translator, predict_translator
from rnnkit.errors import UserError
from rnnkit.tasks.runs import read_split


def cmd_predict(args: argparse.Namespace) -> int:
    from rnnkit.data.corpora import read_text_file
    from rnnkit.tasks import classify_run

    if read_task(args.run) == "forecast":
        return predict_forecaster(args)
    if read_task(args.run) == "translate":
        return predict_translator(args)
    if args.stream or args.data:
        raise UserError(f"--stream and --data are for forecasters; {args.run} is not one")
    loaded = classify_run.load_classifier(args.run, args.device)
    texts = list(args.texts)
    if args.file:
        texts += [line.strip() for line in read_text_file(args.file).splitlines() if line.strip()]
    for text, top in zip(texts, classify_run.predict(loaded, texts, args.top_k), strict=True):
        if args.json:
            print(json.dumps({"text": text, "labels": [{"label": y, "probability": round(p, 6)} for y, p in top]},
                             ensure_ascii=False))
        else:
            print(f"{text}\t" + "  ".join(f"{y} {p:.3f}" for y, p in top))
    return 0


def eval_classifier(args: argparse.Namespace) -> int:
    from rnnkit.eval.classification import format_report
    from rnnkit.tasks import classify_run

    loaded = classify_run.load_classifier(args.run, args.device)
    if args.data:
        examples, what = classify_run.read_eval_data(loaded, args.data, args.encoding), ", ".join(args.data)
        stem = Path(args.data[0]).stem
    else:
        examples, what, stem = read_split(args.run, "test"), "the run's test split", "test"
        if not examples:
            raise UserError(f"{args.run}: the run has no test split (its data came without one); pass DATA to score")
    result = classify_run.evaluate(loaded, examples, what, args.precision)
    picture = args.confusion or args.run / f"confusion-{stem}.png"
    classify_run.plot(loaded, result, picture, what)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "confusion"} | {"confusion_png": str(picture)}))
        return 0
    print(f"{what}: {result['examples']:,} examples\n{format_report(result)}\nconfusion matrix: {picture}")
    return 0


def read_task(run: Path) -> str | None:
    from rnnkit.train.checkpoint import read_config

    return read_config(run).get("task")


def sample_lines(args: argparse.Namespace) -> int:
    from rnnkit.tasks import line_run

    loaded = line_run.load_lines(args.run, args.device)
    lines = line_run.sample(loaded, args.num, args.label, args.prime, args.length, args.temperature, args.top_k,
                            args.top_p, args.seed)
    report = None
    if args.novelty:
        report = line_run.novelty(loaded, lines, line_run.read_lines(loaded, args.novelty, "utf-8"))
    if args.json:
        print(json.dumps({"samples": lines, **({"novelty": report} if report else {})}, ensure_ascii=False))
        return 0
    if report:
        print(f"{report['samples']:,} samples: {report['in_training']:.1%} are training lines, "
              f"{report['in_held_out']:.1%} are held-out lines of {', '.join(args.novelty)}, "
              f"{report['new']:.1%} are new")
    else:
        print("\n".join(lines))
    return 0


def eval_lines(args: argparse.Namespace) -> int:
    from rnnkit.tasks import line_run

    loaded = line_run.load_lines(args.run, args.device)
    if args.data:
        examples, what = line_run.read_lines(loaded, args.data, args.encoding), ", ".join(args.data)
    else:
        examples, what = read_split(args.run, "test"), "the run's test split"
    result = line_run.evaluate(loaded, examples, what, args.precision)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{what}: {result['lines']:,} lines, {result['tokens']:,} tokens with the ends of lines\n"
          f"nats per token      {result['nats_per_token']:.4f}  (perplexity {result['perplexity']:.3f})\n"
          f"bits per character  {result['bits_per_char']:.4f}  (a newline per line)")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from rnnkit.tasks import lm_run, ngram_run

    if read_task(args.run) == "lines":
        return sample_lines(args)
    if args.label or args.novelty:
        raise UserError(f"--label and --novelty need a line model; {args.run} models a stream of text")
    if ngram_run.is_ngram_run(args.run):
        loaded, sample = ngram_run.load(args.run), ngram_run.sample
    else:
        loaded = lm_run.load_run(args.run, args.device)
        sample = functools.partial(lm_run.sample, precision=args.precision)
    for index in range(args.num):
        if args.num > 1:
            print(f"--- sample {index + 1} ---")
        for piece in sample(loaded, args.prime, args.length, args.temperature, args.top_k,
                            args.top_p, args.seed + index):
            sys.stdout.write(piece)
            sys.stdout.flush()
        print()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rnnkit.tasks import lm_run, ngram_run
    task = read_task(args.run)
    if task == "classify":
        return eval_classifier(args)
    if task == "lines":
        return eval_lines(args)
    if task == "forecast":
        return eval_forecaster(args)
    if task == "translate":
        return eval_translator(args)
    if not args.data:
        raise UserError("eval: pass the text to score after the run directory")
    if ngram_run.is_ngram_run(args.run):
        loaded = ngram_run.load(args.run)
        result = ngram_run.evaluate(loaded, args.data, args.encoding)
    else:
        loaded = lm_run.load_run(args.run, args.device)
        result = lm_run.evaluate(loaded, args.data, args.encoding, args.streams, loaded.config["data"]["seq_len"],
                                 args.precision)
    data = loaded.config["data"]
    if args.json:  # an MLE model's infinite perplexity is written as null: JSON has no infinity
        print(json.dumps({k: v if not isinstance(v, float) or math.isfinite(v) else None
                          for k, v in result.items()}))
        return 0
    print(f"{', '.join(args.data)}: {result['tokens']:,} tokens, {result['characters']:,} characters")
    print(f"bits per character  {result['bits_per_char']:.4f}  ({result['nats_per_char']:.4f} nats)")
    print(f"perplexity          {result['perplexity']:.3f} per token")
    if data["tokenizer"] != "char":
        print(f"                    {result['char_perplexity']:.3f} per character")
    if result["unknown_tokens"]:
        print(f"unknown tokens      {result['unknown_tokens']:,} (scored as <unk>)")
    return 0


def cmd_corpora(args: argparse.Namespace) -> int:
    from rnnkit.data.corpora import BUILTIN_CORPORA, DEFAULT_BUILTIN_CHARS, read_builtin

    for name, (description, _) in BUILTIN_CORPORA.items():
        size = len(read_builtin(name, None))
        print(f"{name}  {size:,} characters available, {min(size, DEFAULT_BUILTIN_CHARS):,} used by "
              f"default (--max-chars)\n    {description}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from rnnkit.nn.backends import cache_path, clear_cache, describe_cache

    if args.action == "clear":
        print(f"{cache_path()}: cleared {clear_cache()} timed shapes")
        return 0
    lines = describe_cache()
    print("\n".join(lines) if lines else f"{cache_path()}: no timings yet (`--backend auto` writes them)")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from rnnkit.experiments import EXPERIMENTS, TIMED

    if args.minutes is not None and args.name not in TIMED:
        raise UserError(f"--minutes applies to {', '.join(TIMED)}, not {args.name}")
    options = {"minutes": args.minutes} if args.minutes is not None else {}
    if args.name == "translation":
        if not args.data:
            raise UserError("experiment translation: pass a TSV of sentence pairs (for example eng-fra.txt with "
                            "--reverse-pairs for French to English)")
        options["reverse_pairs"] = args.reverse_pairs
    elif args.reverse_pairs:
        raise UserError("--reverse-pairs applies to the translation experiment only")
    EXPERIMENTS[args.name](args.data or ["python-stdlib"], args.out, args.quick, **options)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from rnnkit.viz.report import write_report

    read_task(args.run)  # a clear error unless this is a run
    if not (args.run / "metrics.jsonl").exists():
        raise UserError(f"{args.run}: no metrics.jsonl, so nothing to report (an n-gram model is counted, not "
                        "trained); report a run of rnnkit train's recurrent tasks")
    out = args.out or args.run / "report.html"
    attention = None
    if read_task(args.run) == "translate":
        from rnnkit.cli.translate import attention_maps

        attention = attention_maps(args.run, out.parent)
    written = write_report(args.run, out, out.parent, attention)
    print(f"{written['html']}: {written['evaluations']} validations, {written['samples']} samples; "
          f"{len(written['pngs'])} PNGs beside it")
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    from rnnkit.tasks import lm_run, viz_run
    from rnnkit.viz.features import FEATURES
    from rnnkit.viz.finder import format_matches
    from rnnkit.viz.gates import format_saturation

    if read_task(args.run) != "lm":
        raise UserError(f"{args.run}: viz reads language-model runs (rnnkit train --task lm), not "
                        f"{read_task(args.run)!r} runs")
    if args.max_chars < 2 or args.top < 1 or args.max_neurons < 0:
        raise UserError("viz: --max-chars needs at least 2, --top at least 1, --max-neurons 0 or more")
    loaded = lm_run.load_run(args.run, args.device)
    ids, pieces = viz_run.read_text(loaded, args.data, args.encoding, args.max_chars)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    reading = viz_run.read_model(loaded, ids, pieces, args.top, progress)
    written = viz_run.write_neuron_page(loaded, reading, args.data, args.out or args.run / "neurons.html",
                                        args.max_neurons)
    print(f"{written['html']}: {written['tokens']:,} tokens, {written['neurons']:,} of {written['of']:,} neurons, "
          f"{written['size'] / 1e6:.1f} MB")
    if args.find:
        print(format_matches(reading.matches, FEATURES))
    if reading.gates:
        print(f"gate saturation (share of values; {written['gates_png']}):\n{format_saturation(reading.gates)}")
    return 0


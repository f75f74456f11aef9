"""The translation commands: train, translate sentences (with attention pictures), score with sacreBLEU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.errors import UserError
from rnnkit.tasks.requests import Decoding, EvalRequest, PredictRequest, TrainRequest

if TYPE_CHECKING:
    import numpy as np

    from rnnkit.decode.beam import Hypothesis
    from rnnkit.tasks.translate.run import LoadedTranslator


def decoding_of(args: Decoding, config: dict):
    """The search asked for; a beam without ``--alpha`` takes the run's tuned length penalty."""
    from rnnkit.tasks.translate.decoding import Decoding
    from rnnkit.tasks.translate.length_penalty import alpha_for

    args.check()
    return Decoding(beam=args.beam, alpha=alpha_for(config, args.beam, args.alpha), n_best=args.n_best,
                    max_length=args.max_length)


def train(request: TrainRequest) -> int:
    from rnnkit.tasks.translate import run as translate_run

    s = request.sections
    run, final = translate_run.train(request.data, s["model"], s["seq2seq"], s["train"], s["data"], s["pairs"],
                                     s["labelled"], request.out, request.device, request.progress,
                                     given=request.given)
    return summary(run, final, request.device)


def summary(run: Path, final: dict, device: str) -> int:
    print(f"\nstep {final['step']}: validation BLEU {final['bleu']:.2f}, chrF {final['chrf']:.2f} (greedy); "
          f"the best is in {run / 'model.safetensors'}")
    if "length_penalty" in final:
        tuned = final["length_penalty"]
        tried = ", ".join(f"{alpha} {bleu:.2f}" for alpha, bleu in tuned["bleu_by_alpha"].items())
        print(f"length penalty for beam {tuned['beam']}: alpha {tuned['alpha']:g}, chosen on {tuned['sentences']:,} "
              f"validation pairs in {tuned['seconds']:.0f} s (BLEU by alpha: {tried}); stored in the run")
    if "test" in final:
        test = final["test"]
        print(f"test split, greedy: BLEU {test['bleu']:.2f}  chrF {test['chrf']:.2f}  ({test['sentences']:,} "
              f"sentences)\n  {test['bleu_signature']}\n  compare beams with: rnnkit eval {run} --beam 5")
    return 0


def predict(args: PredictRequest) -> int:
    from rnnkit.data.corpora import read_lines_given
    from rnnkit.tasks.translate import run as translate_run

    loaded = translate_run.load(args.run, args.device)
    sentences = read_lines_given(args.texts, args.file)
    results = translate_run.translate(loaded, sentences, decoding_of(args, loaded.config))
    for sentence, found in zip(sentences, results, strict=True):
        if args.json:
            print(json.dumps({"source": sentence, "translations": [
                {"text": text, "log_prob": round(h.log_prob, 4), "score": round(h.score, 4)} for text, h in found]},
                ensure_ascii=False))
        elif len(found) == 1:
            print(f"{sentence}\t{found[0][0]}")
        else:
            print(sentence + "".join(f"\n  {h.log_prob:8.3f}  {text}" for text, h in found))
    if args.show_attention:
        if loaded.model.attention is None:
            raise UserError(f"--show-attention: {args.run} was trained with --attention "
                            f"{loaded.config['seq2seq']['attention']}, which has no attention weights")
        draw_attention(loaded, sentences[0], results[0][0], args.show_attention)
        print(f"attention: {args.show_attention}")
    return 0


def attention_axes(loaded: LoadedTranslator, sentence: str, found: tuple[str, Hypothesis],
                   ) -> tuple[list[str], list[str], np.ndarray]:
    """The best translation's tokens (rows, ``</s>`` if it ended), the source's (columns), the weights."""
    from rnnkit.data.pairs import clean
    from rnnkit.tasks.translate.model import SPECIALS

    _, best = found
    source_tokens = loaded.source_tokenizer.pieces(clean(sentence))
    target_tokens = [loaded.target_tokenizer.decode([t - SPECIALS]) for t in best.tokens]
    target_tokens += ["</s>"] if best.ended else []
    return source_tokens, target_tokens, best.attention.numpy()[:len(target_tokens), :len(source_tokens)]


def draw_attention(loaded: LoadedTranslator, sentence: str, found: tuple[str, Hypothesis], path: Path) -> None:
    """The best translation's attention over the source, tokens on both axes."""
    from rnnkit.viz.attention import plot_attention

    source_tokens, target_tokens, weights = attention_axes(loaded, sentence, found)
    plot_attention(weights, source_tokens, target_tokens, path, f"{sentence}  =>  {found[0]}")


def attention_maps(run: Path, folder: Path, count: int = 3) -> list[tuple[str, Path]]:
    """Attention maps of the first validation sentences, for the training report (none without attention)."""
    from rnnkit.tasks.runs import read_split
    from rnnkit.tasks.translate import run as translate_run
    from rnnkit.tasks.translate.decoding import Decoding

    loaded = translate_run.load(run)
    if loaded.model.attention is None:
        return []
    sentences = [s for s, _ in read_split(run, "val", translate_run.PAIR_KEYS)[:count]]
    pictures = []
    for index, (sentence, found) in enumerate(zip(sentences, translate_run.translate(loaded, sentences, Decoding()),
                                                  strict=True)):
        path = folder / f"report-attention-{index + 1}.png"
        draw_attention(loaded, sentence, found[0], path)
        pictures.append((f"{sentence} => {found[0][0]}", path))
    return pictures


def evaluate(args: EvalRequest) -> int:
    from rnnkit.tasks.runs import read_split
    from rnnkit.tasks.translate import run as translate_run

    loaded = translate_run.load(args.run, args.device)
    if args.data or args.source or args.target:
        pairs = translate_run.read_eval_pairs(loaded, args.data, args.source, args.target, args.encoding)
        what = ", ".join(args.data) or f"{args.source} -> {args.target}"
    else:
        pairs, what = read_split(args.run, "test", translate_run.PAIR_KEYS), "the run's test split"
        if not pairs:
            raise UserError(f"{args.run}: the run has no test split; pass pairs to score")
    decoding = decoding_of(args, loaded.config)
    result = translate_run.evaluate(loaded, pairs, decoding, args.precision)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    search = "greedy" if decoding.beam == 1 else f"beam {decoding.beam}, alpha {decoding.alpha:g}"
    print(f"{what}: {result.sentences:,} sentences, {search}\n"
          f"BLEU  {result.bleu:.2f}  ({result.bleu_signature})\n"
          f"chrF  {result.chrf:.2f}  ({result.chrf_signature})\n"
          f"<unk> in the output: {result.unknown_in_output:,} (in the source: {result.unknown_in_source:,} tokens "
          "outside its vocabulary)\n"
          "BLEU by source length (words):")
    for row in result.by_length:
        print(f"  {row['words']:>6}  {row['sentences']:>6,} sentences  BLEU {row['bleu']:6.2f}")
    return 0

"""Corpus BLEU and chrF with sacrebleu, the way translation results are reported.

sacrebleu scores detokenised text with its own tokenisation (13a), so scores
compare across systems and papers; its signature says exactly how. BLEU by
source length shows where a model breaks down (Bahdanau et al.'s figure 2).
"""

from __future__ import annotations

import itertools
import math

# source lengths in words, for BLEU by length: (low, high] per bucket
LENGTH_EDGES = (0, 5, 10, 15, 20, 30, 40, 60, math.inf)


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict:
    """``{"bleu", "chrf", "bleu_signature", "chrf_signature", "precisions", "brevity_penalty"}``."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu, chrf = BLEU(), CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {"bleu": bleu_score.score, "chrf": chrf_score.score, "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature()), "precisions": list(bleu_score.precisions),
            "brevity_penalty": bleu_score.bp, "sentences": len(hypotheses)}


def bleu_by_length(sources: list[str], hypotheses: list[str], references: list[str]) -> list[dict]:
    """Corpus BLEU of the sentences in each source-length bucket that has any."""
    from sacrebleu.metrics import BLEU

    rows = []
    for low, high in itertools.pairwise(LENGTH_EDGES):
        chosen = [i for i, s in enumerate(sources) if low < len(s.split()) <= high]
        if chosen:
            score = BLEU().corpus_score([hypotheses[i] for i in chosen], [[references[i] for i in chosen]])
            rows.append({"words": f"{low + 1}-{high}" if high < math.inf else f"{low + 1}+",
                         "sentences": len(chosen), "bleu": score.score})
    return rows


def caption_bleu(hypotheses: list[str], references: list[list[str]]) -> dict:
    """Corpus BLEU-1 to BLEU-4 against every reference of each image (any number per image), as
    captioning papers report them; ``bleu_signature`` is BLEU-4's."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} images' references")
    most = max((len(r) for r in references), default=0)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(most)]
    scores: dict = {}
    for order in (1, 2, 3, 4):
        bleu = BLEU(max_ngram_order=order)
        scores[f"bleu{order}"] = bleu.corpus_score(hypotheses, streams).score
    scores["bleu_signature"] = str(bleu.get_signature())  # BLEU-4's, with the number of references
    return scores

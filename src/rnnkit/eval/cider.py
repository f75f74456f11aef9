"""CIDEr-D (Vedantam et al. 2015), the consensus score captioning papers report, as the COCO toolkit computes it.

Each caption is a bag of 1- to 4-grams weighted by tf-idf, the document
frequency counted over the images' reference sets; the score is the cosine of the
candidate's vector with each reference's, with the candidate's counts clipped to
the reference's ("-D": no gain from repeating a word) and a Gaussian penalty on
the length difference (sigma 6), averaged over n and the references, times 10.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

ORDER, SIGMA = 4, 6.0

NGrams = Counter  # n-gram tuple -> count


def ngrams(caption: str, order: int = ORDER) -> NGrams:
    words = caption.split()
    return Counter(tuple(words[i:i + n]) for n in range(1, order + 1) for i in range(len(words) - n + 1))


def _weighted(counts: NGrams, idf: dict[tuple, float], log_images: float) -> tuple[list[dict], np.ndarray, int]:
    """Per order: {n-gram: tf * idf}, the vector's norm, and the caption's length in words."""
    vectors: list[dict] = [{} for _ in range(ORDER)]
    for gram, count in counts.items():
        vectors[len(gram) - 1][gram] = count * (log_images - idf.get(gram, 0.0))
    norms = np.array([math.sqrt(sum(v * v for v in vector.values())) for vector in vectors])
    return vectors, norms, sum(count for gram, count in counts.items() if len(gram) == 1)


def _similarity(candidate: tuple, reference: tuple) -> np.ndarray:
    (cand, cand_norm, cand_len), (ref, ref_norm, ref_len) = candidate, reference
    values = np.zeros(ORDER)
    for n in range(ORDER):
        values[n] = sum(min(w, ref[n].get(g, 0.0)) * ref[n].get(g, 0.0) for g, w in cand[n].items())
        if cand_norm[n] != 0 and ref_norm[n] != 0:
            values[n] /= cand_norm[n] * ref_norm[n]
    return values * math.exp(-((cand_len - ref_len) ** 2) / (2 * SIGMA ** 2))


def cider_d(hypotheses: list[str], references: list[list[str]]) -> tuple[float, list[float]]:
    """(corpus CIDEr-D, each image's): the mean over images of the per-image score."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} images' references")
    reference_grams = [[ngrams(r) for r in refs] for refs in references]
    frequency: Counter = Counter()
    for grams in reference_grams:
        frequency.update({g for counts in grams for g in counts})
    idf = {g: math.log(max(1.0, n)) for g, n in frequency.items()}
    log_images = math.log(len(hypotheses))
    scores = []
    for hypothesis, grams in zip(hypotheses, reference_grams, strict=True):
        candidate = _weighted(ngrams(hypothesis), idf, log_images)
        total = sum(_similarity(candidate, _weighted(r, idf, log_images)) for r in grams)
        scores.append(float(np.mean(total)) / len(grams) * 10.0)
    return float(np.mean(scores)), scores

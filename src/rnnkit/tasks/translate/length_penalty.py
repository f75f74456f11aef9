"""The beam's length penalty, chosen on the validation pairs when training ends and kept in the run.

Beam search with plain log-probabilities prefers short translations; GNMT's penalty
``((5 + n) / 6) ** alpha`` corrects for it, by an amount that depends on the model and the
data. So a finished run decodes (up to) its first 500 validation pairs with a beam of 5,
once (the search does not depend on a positive alpha; ``rnnkit.decode.beam`` says why),
picks each sentence's best finished hypothesis under each alpha in a small grid, keeps
the alpha with the best sacreBLEU (the smallest on a tie) and writes it to
``config.json``; ``rnnkit eval``, ``predict`` and the server use it for any beam wider
than 1 unless ``--alpha`` is given.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rnnkit.decode.beam import Hypothesis, penalised
from rnnkit.eval.bleu import corpus_scores
from rnnkit.train import checkpoint

if TYPE_CHECKING:
    from pathlib import Path

    from rnnkit.data.pairs import Pair
    from rnnkit.tasks.translate.run import LoadedTranslator

ALPHAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
TUNING_SENTENCES = 500


def best_alpha(bleu_by_alpha: dict[float, float]) -> float:
    """The alpha with the highest BLEU; of equals, the smallest (the least correction)."""
    return min(bleu_by_alpha, key=lambda alpha: (-bleu_by_alpha[alpha], alpha))


def tune(loaded: LoadedTranslator, pairs: list[Pair], beam: int, precision: str = "fp32") -> dict:
    """BLEU on the first ``TUNING_SENTENCES`` of ``pairs`` at each of ``ALPHAS``, and the best."""
    from rnnkit.tasks.translate.decoding import Decoding
    from rnnkit.tasks.translate.run import translate

    started = time.perf_counter()
    chosen = pairs[:TUNING_SENTENCES]
    every = Decoding(beam=beam, alpha=max(ALPHAS), n_best=2 * beam)  # every finished hypothesis
    found = translate(loaded, [source for source, _ in chosen], every, precision)
    references = [target for _, target in chosen]
    bleu = {alpha: corpus_scores([best_under(alpha, hypotheses) for hypotheses in found], references)["bleu"]
            for alpha in ALPHAS}
    return {"beam": beam, "alpha": best_alpha(bleu), "sentences": len(chosen),
            "bleu_by_alpha": {f"{alpha:g}": round(score, 2) for alpha, score in bleu.items()},
            "seconds": round(time.perf_counter() - started, 1)}


def best_under(alpha: float, hypotheses: list[tuple[str, Hypothesis]]) -> str:
    """The text a beam search with length penalty ``alpha`` returns, from all its finished hypotheses."""
    return max(hypotheses, key=lambda found: penalised(found[1], alpha))[0]


def store(run: Path, tuned: dict) -> None:
    """The tuned penalty in ``config.json`` (rewritten whole, atomically), under ``length_penalty``."""
    config = checkpoint.read_config(run)
    config["length_penalty"] = tuned
    checkpoint.write_json(run / checkpoint.CONFIG, config)


def alpha_for(config: dict, beam: int, given: float | None) -> float:
    """The length penalty a search uses: the one given, else the run's tuned one for a beam, else 0."""
    if given is not None:
        return given
    return float(config.get("length_penalty", {}).get("alpha", 0.0)) if beam > 1 else 0.0

"""N-gram language models on rnnkit's tokens and splits: the baseline RNNs are measured against."""

from rnnkit.ngram.estimators import SMOOTHINGS
from rnnkit.ngram.model import NGramLM
from rnnkit.ngram.stream import TokenStream, from_ids, from_text

__all__ = ["SMOOTHINGS", "NGramLM", "TokenStream", "from_ids", "from_text"]

"""Synced many to many: a tag for every word, from word and character features read both ways.

word embedding (+ capitalisation) + characters (BiLSTM's last states, or a CNN's max) per
word -> recurrent layers over the sentence (bidirectional by default) -> a score per tag
(the emissions) -> a softmax per word, or a linear-chain CRF over the sentence
(Huang, Xu & Yu 2015; Lample et al. 2016; Ma & Hovy 2016).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.config import option
from rnnkit.nn.config import RecurrentConfig, recurrent_layers
from rnnkit.nn.crf import LinearChainCRF, bio_allowed
from rnnkit.tasks.sections import ModelConfig
from rnnkit.tasks.tag.vocab import CAPS, PAD, Encoded, TagBatch, collate
from rnnkit.train.precision import autocast

CHAR_FEATURES = ("lstm", "cnn", "none")
CAPS_SIZE = 4


@dataclass
class TaggerConfig:
    """What a tagger adds to the recurrent layers."""

    bidirectional: bool = option(True, "read each sentence both ways")
    crf: bool = option(False, "a linear-chain CRF over the tags (forward algorithm loss, Viterbi decoding) "
                       "instead of a softmax per word")
    constrain_bio: bool = option(False, "with --crf and BIO tags: make invalid sequences (O -> I-X) impossible")
    char_features: str = option("lstm", "each word spelt out: a character BiLSTM's last states, a character "
                                "CNN max-pooled, or none", CHAR_FEATURES)
    char_embedding_size: int = option(25, "character embedding width")
    char_hidden_size: int = option(25, "character BiLSTM units per direction (CNN: twice as many filters)")
    lowercase: bool = option(True, "look words up lower-cased, with a capitalisation feature beside them (the "
                             "characters keep their case); on WNUT-17 it raised dev entity F1 from 0.25 to 0.30")
    unk_replace: float = option(0.5, "replace a word seen once in training by <unk> with this probability, so "
                                "<unk> is learned (Lample et al.)")


class CharEncoder(nn.Module):
    """``forward(chars (N, L), lengths (N,)) -> (N, F)``: one vector per word from its letters."""

    def __init__(self, num_chars: int, head: TaggerConfig) -> None:
        super().__init__()
        self.kind = head.char_features
        self.embedding = nn.Embedding(num_chars, head.char_embedding_size, padding_idx=PAD)
        self.out_size = 2 * head.char_hidden_size
        if self.kind == "lstm":
            shape = RecurrentConfig(cell="lstm", hidden_size=head.char_hidden_size, backend="fused")
            self.encoder = recurrent_layers(shape, head.char_embedding_size, bidirectional=True)
        else:
            self.encoder = nn.Conv1d(head.char_embedding_size, self.out_size, kernel_size=3, padding=1)

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        x = self.embedding(chars)                                    # (N, L, E)
        if self.kind == "lstm":
            _, state = self.encoder(x, None, lengths)
            return torch.cat([state[0][0], state[1][0]], dim=-1)     # last forward, first reverse: (N, 2H)
        valid = torch.arange(chars.shape[1], device=chars.device)[None, :] < lengths[:, None]
        features = self.encoder(x.transpose(1, 2)).transpose(1, 2)  # (N, L, F)
        return features.masked_fill(~valid[..., None], float("-inf")).amax(1)


class Tagger(nn.Module):
    """``emissions(batch) -> (B, T, C)``; ``loss(batch)`` per word; ``decode(batch) -> (B, T)``."""

    def __init__(self, num_words: int, num_chars: int, tags: list[str], model: ModelConfig,
                 head: TaggerConfig) -> None:
        super().__init__()
        embedding_size = model.embedding_size or model.hidden_size
        self.embedding = nn.Embedding(num_words, embedding_size, padding_idx=PAD)
        self.caps = nn.Embedding(len(CAPS), CAPS_SIZE) if head.lowercase else None
        self.chars = CharEncoder(num_chars, head) if head.char_features != "none" else None
        features = embedding_size + (CAPS_SIZE if self.caps else 0) + (self.chars.out_size if self.chars else 0)
        self.recurrent = recurrent_layers(model, features, head.bidirectional)
        self.dropout = nn.Dropout(model.dropout)
        self.head = nn.Linear(model.hidden_size * self.recurrent.directions, len(tags))
        allowed = bio_allowed(tags) if head.constrain_bio else (None, None)
        self.crf = LinearChainCRF(len(tags), *allowed) if head.crf else None
        nn.init.normal_(self.embedding.weight, std=0.1)
        nn.init.zeros_(self.head.bias)

    def features(self, batch: TagBatch) -> Tensor:
        """Each word's input vector (B, T, F)."""
        parts = [self.embedding(batch.words)]
        if self.caps is not None:
            parts.append(self.caps(batch.caps))
        if self.chars is not None:
            spelt = self.chars(batch.chars, batch.char_lengths)      # (N, 2H), N real words
            placed = spelt.new_zeros(*batch.words.shape, spelt.shape[-1])
            placed[batch.mask] = spelt.to(placed.dtype)
            parts.append(placed)
        return torch.cat(parts, dim=-1)

    def emissions(self, batch: TagBatch) -> Tensor:
        x = self.dropout(self.features(batch))                       # (B, T, F)
        out, _ = self.recurrent(x, None, batch.lengths)              # (B, T, D*H), zero past each length
        return self.head(self.dropout(out)).float()                  # (B, T, C)

    def loss(self, batch: TagBatch, scores: Tensor | None = None) -> Tensor:
        """Negative log-likelihood per real word: the CRF's per sentence, or cross-entropy per word."""
        scores = self.emissions(batch) if scores is None else scores
        mask = batch.mask
        if self.crf is not None:
            return self.crf.nll(scores, batch.tags, mask).sum() / mask.sum()
        return F.cross_entropy(scores[mask], batch.tags[mask])

    @torch.no_grad()
    def decode(self, batch: TagBatch, scores: Tensor | None = None) -> Tensor:
        """The predicted tags (B, T): Viterbi's best sequence with a CRF, else each word's argmax."""
        scores = self.emissions(batch) if scores is None else scores
        if self.crf is not None:
            return self.crf.viterbi(scores, batch.mask)
        return scores.argmax(-1).masked_fill(~batch.mask, 0)


@torch.no_grad()
def predict_tags(model: Tagger, sentences: list[Encoded], device: torch.device, precision: str = "fp32",
                 batch_size: int = 128, with_loss: bool = False) -> tuple[list[np.ndarray], float | None]:
    """Each sentence's predicted tag ids, in input order, in length-sorted padded batches; with
    ``with_loss`` (validation) also the mean loss per word over them, else None."""
    was_training = model.training
    model.eval()
    order = np.argsort([len(s.words) for s in sentences], kind="stable")
    found: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(sentences)
    total, words = 0.0, 0
    try:
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            batch = collate([sentences[i] for i in chosen]).to(device)
            with autocast(device, precision):
                scores = model.emissions(batch)
            tags = model.decode(batch, scores).cpu().numpy()
            if with_loss:
                size = int(batch.lengths.sum())
                total, words = total + float(model.loss(batch, scores)) * size, words + size
            for row, index in enumerate(chosen):
                found[index] = tags[row, :len(sentences[index].words)]
    finally:
        model.train(was_training)
    return found, total / max(words, 1) if with_loss else None

"""The language model, its TBPTT task and its evaluation conventions."""

import math

import numpy as np
import pytest
import torch

from rnnkit.data.tokenizers import CharTokenizer
from rnnkit.eval.perplexity import stream_nats
from rnnkit.eval.scores import scores
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.task import LanguageModelTask
from rnnkit.tasks.sections import DataConfig, ModelConfig


def test_fused_and_unrolled_language_models_share_weights_and_outputs():
    torch.manual_seed(0)
    shape = dict(hidden_size=16, num_layers=2, embedding_size=0, tie_weights=True)
    fused = LanguageModel(20, ModelConfig(backend="fused", **shape))
    unrolled = LanguageModel(20, ModelConfig(backend="eager", **shape))
    unrolled.load_state_dict(fused.state_dict())
    ids = torch.randint(0, 20, (3, 9))
    torch.testing.assert_close(fused(ids)[0], unrolled(ids)[0], atol=1e-5, rtol=1e-5)
    assert fused.head.weight is fused.embedding.weight


@pytest.mark.parametrize("streams", [1, 3, 7, 20])  # 20: rounding leaves the last streams empty
def test_stream_scoring_is_exact_for_any_number_of_streams(streams):
    torch.manual_seed(0)
    model = LanguageModel(11, ModelConfig(hidden_size=8, num_layers=1)).eval()
    ids = np.random.default_rng(0).integers(0, 11, 50)
    total, count = stream_nats(model, ids, streams=streams, seq_len=4)
    assert count == 49
    # the oracle: each stream read in one call, every next token scored exactly once
    per = -(-49 // streams)
    expected = 0.0
    for s in range(-(-49 // per)):
        piece = torch.as_tensor(ids[s * per: min((s + 1) * per, 49) + 1])[None]
        logits, _ = model(piece[:, :-1])
        expected += torch.nn.functional.cross_entropy(logits[0], piece[0, 1:], reduction="sum").item()
    assert math.isclose(total, expected, rel_tol=1e-5)


def test_scores_convert_units():
    result = scores(total_nats=100.0, tokens=50, characters=200)
    assert math.isclose(result["perplexity"], math.exp(2.0))
    assert math.isclose(result["bits_per_char"], 0.5 / math.log(2))


def test_task_carries_detached_state_and_resets_each_epoch():
    torch.manual_seed(0)
    text = "abcdefghij" * 40
    tokenizer = CharTokenizer.fit(text)
    ids = tokenizer.encode(text).astype(np.uint8)
    model = LanguageModel(tokenizer.vocab_size, ModelConfig(hidden_size=8, num_layers=1))
    task = LanguageModelTask(model, tokenizer, ids[:300], ids[300:],
                             DataConfig(batch_size=2, seq_len=10, state_reset=0), "a", torch.device("cpu"), 5)
    task.loss(0).backward()
    assert not task.state[0][0].requires_grad  # detached: the next backward stops at the boundary
    task.loss(1).backward()
    # carried across the chunk boundary, the state equals one unbroken pass over the column
    column = torch.as_tensor(ids[:20].astype(np.int64))[None]
    _, unbroken = model(column)
    torch.testing.assert_close(task.state[0][0][:1], unbroken[0][0], atol=1e-6, rtol=1e-6)
    task.loss(task.batches.chunks)  # an epoch later: starts again from a zero state
    _, fresh = model(task.batches.batch(0)[0])
    torch.testing.assert_close(task.state[0][0], fresh[0][0], atol=1e-6, rtol=1e-6)

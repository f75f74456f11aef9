"""`rnnkit train lm --backend numpy`: a character model trained by the NumPy reference.

Slow, but every number comes from ``reference.py``: forward, hand-written BPTT,
Adagrad, in float64. The weights are saved under the PyTorch model's names, so
``rnnkit sample`` and ``rnnkit eval`` work on the run, through the unrolled cells.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

from rnnkit import reference
from rnnkit.data.batching import StreamBatches
from rnnkit.errors import UserError
from rnnkit.eval.perplexity import stream_nats
from rnnkit.eval.scores import scores
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.run import prepare_data, write_run_header
from rnnkit.tasks.runs import new_run_dir
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import checkpoint
from rnnkit.train.config import TrainConfig


def train_numpy(sources: list[str], model_config: ModelConfig, train_config: TrainConfig, data: DataConfig,
                out: str | None) -> tuple[Path, dict]:
    """Train with the reference; returns the run directory and its validation scores."""
    if model_config.dropout > 0 or model_config.tie_weights:
        raise UserError("--backend numpy has no dropout or weight tying; drop --dropout and --tie-weights")
    if train_config.steps <= 0 and train_config.minutes <= 0:
        raise UserError("no budget: pass --steps N or --minutes M")
    tokenizer, train_ids, val_ids, start_text = prepare_data(sources, data)
    run = new_run_dir(out, sources)
    model_config = dataclasses.replace(model_config, backend="eager")
    embed = model_config.embedding_size or model_config.hidden_size
    rng = np.random.default_rng(train_config.seed)
    params = reference.init_params(model_config.cell, tokenizer.vocab_size, embed, model_config.hidden_size,
                                   model_config.num_layers, rng)
    write_run_header(run, sources, tokenizer, start_text, model_config,
                     dataclasses.replace(train_config, precision="fp64"), data, trainer="numpy")
    step = _adagrad_loop(params, StreamBatches(train_ids, data.batch_size, data.seq_len), model_config,
                         train_config)
    tensors = {name: value.astype(np.float32) for name, value in params.items()}
    for name in (checkpoint.BEST, checkpoint.LAST):
        checkpoint.atomic_write(run / name, lambda tmp, t=tensors: save_file(t, str(tmp), {"step": str(step)}))
    model = LanguageModel(tokenizer.vocab_size, model_config)
    checkpoint.load_weights(run / checkpoint.BEST, model)
    total, tokens = stream_nats(model, val_ids, data.eval_streams, data.seq_len, torch.device("cpu"))
    return run, {**scores(total, tokens, tokenizer.token_chars(val_ids[1:])), "step": step}


def _adagrad_loop(params: dict, batches: StreamBatches, model_config: ModelConfig, train_config: TrainConfig) -> int:
    """Truncated BPTT with the reference's forward, backward and Adagrad until the budget; returns the steps."""
    memory: dict = {}
    state, smooth, started, step = None, None, time.perf_counter(), 0
    budget = train_config.minutes * 60
    while (train_config.steps <= 0 or step < train_config.steps) and (
            budget <= 0 or time.perf_counter() - started < budget):
        inputs, targets, starts_epoch = batches.batch(step)
        if starts_epoch:
            state = None
        loss, grads, state = reference.model_forward_backward(
            params, inputs.numpy(), targets.numpy(), model_config.cell, model_config.num_layers, state,
            model_config.nonlinearity, model_config.reset)
        if not np.isfinite(loss):
            raise UserError(f"training diverged at step {step} (loss {loss}); lower --lr")
        reference.adagrad_update(params, grads, memory, train_config.lr)
        step += 1
        smooth = loss if smooth is None else 0.99 * smooth + 0.01 * loss
        if step % max(1, train_config.eval_every // 5) == 0:
            print(f"step {step:>6}  loss {smooth:.4f} nats/token", file=sys.stderr)
    return step

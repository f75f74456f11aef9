"""Activations for the neuron pictures are the states the model itself returns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import ModelConfig
from rnnkit.viz.activations import activations


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("backend", ["fused", "eager"])
def test_activations_equal_the_states_of_a_forward_pass(cell, backend):
    torch.manual_seed(0)
    model = LanguageModel(20, ModelConfig(cell=cell, hidden_size=12, embedding_size=6, num_layers=2,
                                          backend=backend)).eval()
    ids = np.random.default_rng(0).integers(0, 20, size=40)
    found = activations(model.recurrent, model.embedding.weight, ids)
    assert sorted(found) == (["c0", "c1", "h0", "h1"] if cell == "lstm" else ["h0", "h1"])
    assert found["h1"].shape == (40, 12)
    for t in (0, 17, 39):
        with torch.no_grad():
            _, state = model(torch.from_numpy(ids[None, : t + 1]))
        for layer, layer_state in enumerate(state):
            h, c = layer_state if cell == "lstm" else (layer_state, None)
            np.testing.assert_allclose(found[f"h{layer}"][t], h[0].numpy(), rtol=0, atol=1e-5)
            if c is not None:
                np.testing.assert_allclose(found[f"c{layer}"][t], c[0].numpy(), rtol=0, atol=1e-5)

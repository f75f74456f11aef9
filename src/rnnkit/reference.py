"""NumPy reference: forward and hand-written backward for RNN, LSTM and GRU.

The oracle for the PyTorch code and the place to read backpropagation through time
in full. Nothing here imports torch or the rest of rnnkit. Every step forward
returns ``(state, cache)`` and every step backward takes ``(dstate, cache)``, as in
llm.c; the full model is embedding -> recurrent layers -> linear -> softmax, with
cross-entropy averaged over every position (batch and time), and parameter names
that match rnnkit's state dicts (``recurrent.weight_ih_l0``, ``head.weight``, ...), so one
dict of arrays drives both implementations. The derivation is in ``docs/bptt.md``.

Shapes are batch-first: ``x (B, I)``, ``h (B, H)``, weights ``(gates*H, I)`` as in torch.nn.
"""

from __future__ import annotations

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


# -- one step -----------------------------------------------------------------------------------
def rnn_step_forward(x, h, p, nonlinearity="tanh"):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    a = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    h_new = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)
    return h_new, (x, h, h_new, a, nonlinearity, p)


def rnn_step_backward(dh_new, cache):
    x, h, h_new, a, nonlinearity, p = cache
    da = dh_new * (1.0 - h_new**2) if nonlinearity == "tanh" else dh_new * (a > 0)
    grads = {"weight_ih": da.T @ x, "weight_hh": da.T @ h, "bias_ih": da.sum(0), "bias_hh": da.sum(0)}
    return da @ p["weight_ih"], da @ p["weight_hh"], grads


def lstm_step_forward(x, state, p):
    """i, f, g, o from one affine map; c' = f c + i g; h' = o tanh(c')."""
    h, c = state
    a = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    h_new = o * tanh_c
    return (h_new, c_new), (x, h, c, i, f, g, o, tanh_c, p)


def lstm_step_backward(dstate, cache):
    """dstate = (dh', dc'): the gradients reaching h' and c' from above and from the future."""
    dh_new, dc_new = dstate
    x, h, c, i, f, g, o, tanh_c, p = cache
    dc = dc_new + dh_new * o * (1.0 - tanh_c**2)  # the cell state's total gradient
    da = np.concatenate([dc * g * i * (1 - i),          # input gate
                         dc * c * f * (1 - f),          # forget gate
                         dc * i * (1 - g**2),           # candidate
                         dh_new * tanh_c * o * (1 - o)], axis=1)  # output gate
    grads = {"weight_ih": da.T @ x, "weight_hh": da.T @ h, "bias_ih": da.sum(0), "bias_hh": da.sum(0)}
    return da @ p["weight_ih"], (da @ p["weight_hh"], dc * f), grads


def gru_step_forward(x, h, p, reset="after"):
    """r, z gates; candidate n with the reset gate after (torch) or before (Cho) W_hn."""
    hidden = h.shape[1]
    ax = x @ p["weight_ih"].T + p["bias_ih"]
    x_r, x_z, x_n = np.split(ax, 3, axis=1)
    w_hh, b_hh = p["weight_hh"], p["bias_hh"]
    h_rz = h @ w_hh[:2 * hidden].T + b_hh[:2 * hidden]
    r, z = sigmoid(x_r + h_rz[:, :hidden]), sigmoid(x_z + h_rz[:, hidden:])
    if reset == "after":
        h_n = h @ w_hh[2 * hidden:].T + b_hh[2 * hidden:]
        n = np.tanh(x_n + r * h_n)
    else:
        h_n = (r * h) @ w_hh[2 * hidden:].T + b_hh[2 * hidden:]
        n = np.tanh(x_n + h_n)
    h_new = (1 - z) * n + z * h
    return h_new, (x, h, r, z, n, h_n, reset, p)


def gru_step_backward(dh_new, cache):
    x, h, r, z, n, h_n, reset, p = cache
    hidden = h.shape[1]
    w_hn = p["weight_hh"][2 * hidden:]
    da_n = dh_new * (1 - z) * (1 - n**2)
    da_z = dh_new * (h - n) * z * (1 - z)
    dh = dh_new * z
    if reset == "after":
        da_r = da_n * h_n * r * (1 - r)
        dah_n = da_n * r                    # gradient reaching W_hn h + b_hn
        dw_hn = dah_n.T @ h
        dh = dh + dah_n @ w_hn
    else:
        drh = da_n @ w_hn                   # gradient reaching r * h
        da_r = drh * h * r * (1 - r)
        dah_n = da_n
        dw_hn = da_n.T @ (r * h)
        dh = dh + drh * r
    dax = np.concatenate([da_r, da_z, da_n], axis=1)
    dah_rz = np.concatenate([da_r, da_z], axis=1)
    dh = dh + dah_rz @ p["weight_hh"][:2 * hidden]
    grads = {"weight_ih": dax.T @ x, "bias_ih": dax.sum(0),
             "weight_hh": np.concatenate([dah_rz.T @ h, dw_hn]),
             "bias_hh": np.concatenate([dah_rz.sum(0), dah_n.sum(0)])}
    return dax @ p["weight_ih"], dh, grads


def step_forward(cell, x, state, p, nonlinearity="tanh", reset="after"):
    """One step of any cell: ``(state', cache)``; the LSTM's state is the pair (h, c)."""
    if cell == "rnn":
        return rnn_step_forward(x, state, p, nonlinearity)
    if cell == "lstm":
        return lstm_step_forward(x, state, p)
    if cell == "gru":
        return gru_step_forward(x, state, p, reset)
    raise ValueError(f"unknown cell {cell!r}")


def step_backward(cell, dstate, cache):
    """``(dx, dstate_prev, parameter grads)`` from the gradient reaching this step's state."""
    return {"rnn": rnn_step_backward, "lstm": lstm_step_backward, "gru": gru_step_backward}[cell](dstate, cache)


def output_of(cell, state):
    return state[0] if cell == "lstm" else state


def zero_state(cell, batch, hidden):
    zeros = np.zeros((batch, hidden))
    return (zeros, zeros.copy()) if cell == "lstm" else zeros


def _add_to_output(cell, dstate, dh):
    return (dstate[0] + dh, dstate[1]) if cell == "lstm" else dstate + dh


# -- a whole model over a sequence ------------------------------------------------------------
def layer_params(params: dict, layer: int) -> dict:
    return {name: params[f"recurrent.{name}_l{layer}"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def model_forward_backward(params: dict, inputs: np.ndarray, targets: np.ndarray, cell: str,
                           num_layers: int, state=None, nonlinearity: str = "tanh", reset: str = "after"):
    """Loss, gradients and final state of embedding -> layers -> linear -> softmax over ``inputs (B, T)``.

    The loss is cross-entropy averaged over all B*T positions. ``state`` (one entry per
    layer) is carried in from the previous chunk, as in truncated BPTT: the gradient
    stops at it, and is returned as ``grads["initial_state"]`` for inspection.
    """
    top, caches, final = _layers_forward(params, inputs, cell, num_layers, state, nonlinearity, reset)
    logits = top @ params["head.weight"].T + params["head.bias"]      # (B, T, V)
    logits = logits - logits.max(axis=-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    loss = -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0].mean()

    dlogits = np.exp(log_probs)
    np.put_along_axis(dlogits, targets[..., None], np.take_along_axis(dlogits, targets[..., None], -1) - 1, -1)
    dlogits /= inputs.size
    grads = {"head.weight": np.einsum("btv,bth->vh", dlogits, top), "head.bias": dlogits.sum((0, 1))}
    dout, grads["initial_state"] = _layers_backward(params, dlogits @ params["head.weight"], caches, cell, grads)
    grads["embedding.weight"] = np.zeros_like(params["embedding.weight"])
    np.add.at(grads["embedding.weight"], inputs, dout)
    return loss, grads, final


def _layers_forward(params: dict, inputs: np.ndarray, cell: str, num_layers: int, state, nonlinearity: str,
                    reset: str) -> tuple[np.ndarray, list, list]:
    """(top layer's outputs (B, T, H), each layer's step caches, each layer's final state)."""
    batch, steps = inputs.shape
    hidden = params["recurrent.weight_hh_l0"].shape[1]
    states = list(state) if state is not None else [zero_state(cell, batch, hidden) for _ in range(num_layers)]
    layer_input = params["embedding.weight"][inputs]                  # (B, T, E)
    caches, final = [], []
    for layer in range(num_layers):
        p, s = layer_params(params, layer), states[layer]
        outputs, layer_caches = np.empty((batch, steps, hidden)), []
        for t in range(steps):
            s, cache = step_forward(cell, layer_input[:, t], s, p, nonlinearity, reset)
            outputs[:, t] = output_of(cell, s)
            layer_caches.append(cache)
        caches.append(layer_caches)
        final.append(s)
        layer_input = outputs                                          # (B, T, H)
    return layer_input, caches, final


def _layers_backward(params: dict, dout: np.ndarray, caches: list, cell: str, grads: dict) -> tuple[np.ndarray, list]:
    """BPTT down the layers from ``dout (B, T, H)``; adds the weights' gradients to ``grads`` and returns
    (dL/d embedded inputs, dL/d each layer's initial state)."""
    batch, steps, hidden = dout.shape
    initial_grads = [None] * len(caches)
    for layer in reversed(range(len(caches))):
        p = layer_params(params, layer)
        layer_grads = {name: np.zeros_like(value) for name, value in p.items()}
        dinput = np.empty((batch, steps, p["weight_ih"].shape[1]))
        dstate = zero_state(cell, batch, hidden)                        # nothing flows back from beyond T
        for t in reversed(range(steps)):
            dstate = _add_to_output(cell, dstate, dout[:, t])
            dinput[:, t], dstate, step_grads = step_backward(cell, dstate, caches[layer][t])
            for name, value in step_grads.items():
                layer_grads[name] += value
        grads.update({f"recurrent.{name}_l{layer}": value for name, value in layer_grads.items()})
        initial_grads[layer] = dstate
        dout = dinput
    return dout, initial_grads


# -- checking gradients ------------------------------------------------------------------------
def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to every element of ``x`` (in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        index = it.multi_index
        original = x[index]
        x[index] = original + eps
        plus = f()
        x[index] = original - eps
        minus = f()
        x[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||): scale-free, and 0 when both are 0."""
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else float(np.linalg.norm(a - b) / denominator)


# -- training, min-char-rnn style --------------------------------------------------------------
def init_params(cell: str, vocab: int, embed: int, hidden: int, num_layers: int,
                rng: np.random.Generator) -> dict:
    """Gaussian embedding and input weights, orthogonal recurrent weights, LSTM forget bias 1."""
    gates = GATES[cell]
    params = {"embedding.weight": rng.normal(0, 0.1, (vocab, embed)),
              "head.weight": rng.normal(0, hidden**-0.5, (vocab, hidden)), "head.bias": np.zeros(vocab)}
    for layer in range(num_layers):
        width = embed if layer == 0 else hidden
        params[f"recurrent.weight_ih_l{layer}"] = rng.normal(0, (width + hidden) ** -0.5, (gates * hidden, width))
        blocks = [np.linalg.qr(rng.normal(size=(hidden, hidden)))[0] for _ in range(gates)]
        params[f"recurrent.weight_hh_l{layer}"] = np.concatenate(blocks)
        params[f"recurrent.bias_ih_l{layer}"] = np.zeros(gates * hidden)
        params[f"recurrent.bias_hh_l{layer}"] = np.zeros(gates * hidden)
        if cell == "lstm":
            params[f"recurrent.bias_ih_l{layer}"][hidden:2 * hidden] = 1.0
    return params


def adagrad_update(params: dict, grads: dict, memory: dict, lr: float, clip: float = 5.0) -> None:
    """Clip each gradient element to [-clip, clip], then Adagrad: p -= lr g / sqrt(Σ g²)."""
    for name, value in params.items():
        grad = np.clip(grads[name], -clip, clip)
        memory.setdefault(name, np.zeros_like(value))
        memory[name] += grad * grad
        value -= lr * grad / np.sqrt(memory[name] + 1e-8)

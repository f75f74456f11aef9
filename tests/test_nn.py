"""From-equation cells and layers against torch.nn with copied weights."""

import pytest
import torch
from torch import nn

from rnnkit.nn import FusedRecurrent, GRUCell, LSTMCell, Recurrent, RNNCell, Stepper, detach_state

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
TORCH_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
OUR_CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
TORCH_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def assert_close(a, b, dtype):
    torch.testing.assert_close(a, b, rtol=TOL[dtype], atol=TOL[dtype])


def flatten(state):
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for item in state for t in flatten(item)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cell_matches_torch_cell(cell, dtype):
    torch.manual_seed(0)
    ours = OUR_CELLS[cell](5, 7).to(dtype)
    theirs = TORCH_CELLS[cell](5, 7).to(dtype)
    theirs.load_state_dict(ours.state_dict())  # same names, so weights copy directly
    x = torch.randn(3, 5, dtype=dtype, requires_grad=True)
    h0 = torch.randn(3, 7, dtype=dtype)
    if cell == "lstm":
        c0 = torch.randn(3, 7, dtype=dtype)
        out, (h, c) = ours(x, (h0, c0))
        h_ref, c_ref = theirs(x, (h0, c0))
        assert_close(c, c_ref, dtype)
    else:
        out, h = ours(x, h0)
        h_ref = theirs(x, h0)
    assert_close(out, h_ref, dtype)
    grads = torch.autograd.grad(h.square().sum(), [x, *ours.parameters()])
    grads_ref = torch.autograd.grad(h_ref.square().sum(), [x, *theirs.parameters()])
    for g, g_ref in zip(grads, grads_ref, strict=True):
        assert_close(g, g_ref, dtype)


def test_relu_rnn_cell_matches_torch():
    torch.manual_seed(1)
    ours = RNNCell(4, 6, nonlinearity="relu").double()
    theirs = nn.RNNCell(4, 6, nonlinearity="relu").double()
    theirs.load_state_dict(ours.state_dict())
    x, h0 = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 6, dtype=torch.float64)
    assert_close(ours(x, h0)[0], theirs(x, h0), torch.float64)


LAYER_CASES = [(cell, layers, bidir) for cell in ("rnn", "lstm", "gru")
               for layers in (1, 2, 3) for bidir in (False, True)]


@pytest.mark.filterwarnings("ignore:dropout option adds dropout")  # torch.nn's own, at one layer
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell,layers,bidir", LAYER_CASES)
def test_unrolled_and_fused_match_torch_layers(cell, layers, bidir, dtype, dropout):
    """With dropout configured but switched off (eval mode), all three agree exactly."""
    torch.manual_seed(layers * 10 + bidir)
    kwargs = dict(num_layers=layers, bidirectional=bidir, dropout=dropout)
    unrolled = Recurrent(cell, 4, 6, **kwargs).to(dtype).eval()
    fused = FusedRecurrent(cell, 4, 6, **kwargs).to(dtype).eval()
    reference = TORCH_LAYERS[cell](4, 6, batch_first=True, **kwargs).to(dtype).eval()
    fused.load_state_dict(unrolled.state_dict())
    reference.load_state_dict(unrolled.state_dict())  # canonical names are torch.nn's
    x = torch.randn(3, 5, 4, dtype=dtype, requires_grad=True)
    directions = 2 if bidir else 1
    h0 = torch.randn(layers * directions, 3, 6, dtype=dtype)
    c0 = torch.randn(layers * directions, 3, 6, dtype=dtype)
    if cell == "lstm":
        state = tuple(zip(h0.unbind(0), c0.unbind(0), strict=True))
        ref_out, (ref_h, ref_c) = reference(x, (h0, c0))
        ref_state = [t for pair in zip(ref_h.unbind(0), ref_c.unbind(0), strict=True) for t in pair]
    else:
        state = tuple(h0.unbind(0))
        ref_out, ref_h = reference(x, h0)
        ref_state = list(ref_h.unbind(0))
    ref_grads = torch.autograd.grad(ref_out.pow(2).sum() + sum(s.sum() for s in ref_state),
                                    [x, *reference.parameters()])
    names = [n for n, _ in reference.named_parameters()]
    for module in (unrolled, fused):
        out, new_state = module(x, state)
        assert_close(out, ref_out, dtype)
        for ours, theirs in zip(flatten(new_state), ref_state, strict=True):
            assert_close(ours, theirs, dtype)
        params = dict(module.named_parameters())
        canonical = module.state_dict(keep_vars=True)
        grads = torch.autograd.grad(out.pow(2).sum() + sum(s.sum() for s in flatten(new_state)),
                                    [x, *(canonical[n] for n in names)])
        assert len(params) == len(names)
        for g, g_ref in zip(grads, ref_grads, strict=True):
            assert_close(g, g_ref, dtype)


def test_state_dicts_are_interchangeable_and_canonical():
    unrolled = Recurrent("lstm", 3, 4, num_layers=2, bidirectional=True)
    fused = FusedRecurrent("lstm", 3, 4, num_layers=2, bidirectional=True)
    assert set(unrolled.state_dict()) == set(fused.state_dict()) == set(
        nn.LSTM(3, 4, 2, bidirectional=True).state_dict())
    fused.load_state_dict(unrolled.state_dict())
    for key, value in unrolled.state_dict().items():
        assert torch.equal(fused.state_dict()[key], value)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    net = Recurrent("gru", 3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(2, 6, 3)
    net.train()
    a, _ = net(x)
    b, _ = net(x)
    assert not torch.allclose(a, b)  # a fresh mask each call
    net.eval()
    c, _ = net(x)
    d, _ = net(x)
    assert torch.equal(c, d)


def test_initialisation_follows_the_lectures():
    torch.manual_seed(0)
    for module in (Recurrent("lstm", 5, 8), FusedRecurrent("lstm", 5, 8)):
        sd = module.state_dict()
        assert torch.all(sd["bias_ih_l0"][8:16] == 1.0)  # forget gate
        assert torch.all(sd["bias_ih_l0"][:8] == 0) and torch.all(sd["bias_hh_l0"] == 0)
        for gate in range(4):
            w = sd["weight_hh_l0"][gate * 8:(gate + 1) * 8]
            torch.testing.assert_close(w @ w.T, torch.eye(8), atol=1e-5, rtol=0)


def test_gru_reset_before_is_the_paper_form():
    torch.manual_seed(0)
    cell = GRUCell(3, 4, reset="before").double()
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    w_ir, w_iz, w_in = cell.weight_ih.chunk(3)
    w_hr, w_hz, w_hn = cell.weight_hh.chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = torch.sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = torch.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
    expected = (1 - z) * n + z * h
    assert_close(cell(x, h)[0], expected, torch.float64)
    after = GRUCell(3, 4, reset="after").double()
    after.load_state_dict(cell.state_dict())
    assert not torch.allclose(after(x, h)[0], expected)
    with pytest.raises(ValueError, match="eager"):
        FusedRecurrent("gru", 3, 4, reset="before")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stepper_matches_a_full_forward(cell):
    torch.manual_seed(0)
    embedding = torch.randn(11, 5)
    net = FusedRecurrent(cell, 5, 8, num_layers=2).eval()
    tokens = torch.randint(0, 11, (3, 7))
    out, final = net(embedding[tokens])
    stepper = Stepper(net, embedding)
    state = None
    for t in range(7):
        h, state = stepper.step(tokens[:, t], state)
        torch.testing.assert_close(h, out[:, t], atol=1e-5, rtol=1e-5)
    for ours, theirs in zip(flatten(state), flatten(final), strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_detach_state_cuts_the_graph():
    x = torch.randn(2, 3, 4, requires_grad=True)
    _, state = Recurrent("lstm", 4, 5)(x)
    assert all(t.requires_grad for t in flatten(state))
    detached = detach_state(state)
    assert not any(t.requires_grad for t in flatten(detached))
    assert all(torch.equal(a, b) for a, b in zip(flatten(state), flatten(detached), strict=True))

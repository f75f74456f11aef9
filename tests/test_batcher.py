"""Continuous batching without HTTP: rows that never mix, streams that wait for a row, a full queue."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import Tensor

from rnnkit.decode import rows as rows_module
from rnnkit.decode import way_cache
from rnnkit.decode.batcher import DONE, Batcher, QueueFull, Stream
from rnnkit.decode.rows import (
    MAX_ROWS,
    PRODUCTS,
    RowSampling,
    probe_draws,
    rowwise_product,
    same_at_every_batch_size,
    sample_rows,
)
from rnnkit.decode.sampling import generate
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import ModelConfig


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(64, 256), (50, 65), (128, 384)])
def test_a_rows_product_is_the_same_at_every_batch_size(dtype, shape):
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(*shape, generator=generator).to(dtype)
    x = torch.randn(MAX_ROWS, shape[0], generator=generator).to(dtype)
    alone = torch.cat([rowwise_product(x[row:row + 1], weight) for row in range(MAX_ROWS)])
    for rows in (2, 3, 4, 7, 8, 17, 32, 33, MAX_ROWS):
        assert torch.equal(rowwise_product(x[:rows], weight), alone[:rows])
    assert torch.allclose(alone.float(), (x.float() @ weight.float()), rtol=2e-2, atol=2e-1)  # and it is x @ W


def test_the_probe_sees_a_change_of_summation_order_that_bf16_rounding_hides():
    """A kernel that sums in fp64 for a batch and in fp32 for one row, as AMX's batch kernels do
    in their own order: the cancelling draw shows it wherever the product has a pair to cancel."""
    def order_changing(x, weight):
        wide = torch.float64 if x.shape[0] > 1 else torch.float32
        return (x.to(wide) @ weight.to(wide)).to(x.dtype)

    for shape in [(50, 65), (64, 256), (768, 66)]:
        cancelling, random_draw = probe_draws(shape, torch.bfloat16, "cpu")
        assert not same_at_every_batch_size(order_changing, [cancelling])
        assert not same_at_every_batch_size(order_changing, [random_draw, cancelling])
        assert same_at_every_batch_size(PRODUCTS["rows"], [random_draw, cancelling])
        assert torch.allclose((cancelling[1].float() @ cancelling[0].float()), torch.zeros(MAX_ROWS, shape[1]),
                              atol=1e-3)  # its exact sums are zero: what is left is rounding
    assert len(probe_draws((50, 65), torch.float32, "cpu")) == 1  # fp32 shows its accumulator's bits


def test_a_probed_way_is_remembered_on_disk_per_machine_and_probe_version(monkeypatch, tmp_path, capsys):
    """A later process reads the way instead of probing again; another machine, a newer probe,
    a damaged file or an unknown way probes again."""
    from rnnkit.cli import main

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    probed = []
    real_check = rows_module.same_at_every_batch_size
    monkeypatch.setattr(rows_module, "same_at_every_batch_size", lambda *args: probed.append(1) or real_check(*args))
    shape, dtype = (40, 24), torch.bfloat16
    weight, x = torch.randn(*shape).to(dtype), torch.randn(5, shape[0]).to(dtype)

    def product_in_a_new_process() -> Tensor:
        monkeypatch.setattr(rows_module, "_WAYS", {})
        probed.clear()
        return rows_module.rowwise_product(x, weight)

    first = product_in_a_new_process()
    way = rows_module._WAYS[(shape, dtype, "cpu")]
    assert probed and way_cache.remembered_way(shape, dtype, "cpu") == way
    assert torch.equal(product_in_a_new_process(), first) and not probed
    way_cache.remember_way(shape, dtype, "cpu", "rows")
    product_in_a_new_process()
    assert rows_module._WAYS[(shape, dtype, "cpu")] == "rows" and not probed  # read, not probed
    for damage in ("{not json", '{"x": 1}'):
        way_cache.ways_path().write_text(damage)
        product_in_a_new_process()
        assert probed and way_cache.remembered_way(shape, dtype, "cpu") == way
    way_cache.remember_way(shape, dtype, "cpu", "magic")
    product_in_a_new_process()
    assert probed and way_cache.remembered_way(shape, dtype, "cpu") == way
    monkeypatch.setattr(way_cache, "PROBE_VERSION", way_cache.PROBE_VERSION + 1)
    product_in_a_new_process()
    assert probed
    monkeypatch.setattr(way_cache, "machine_key", lambda device: "0123abcd another processor")
    product_in_a_new_process()
    assert probed
    assert main(["cache", "show"]) == 0
    shown = capsys.readouterr().out
    assert shown.count(f"rows of a 40x24 bfloat16 product: {way}") == 3 and "another processor | probe" in shown
    assert main(["cache", "clear"]) == 0
    assert "cleared 3 product ways" in capsys.readouterr().out and not way_cache.ways_path().exists()


def test_a_row_is_drawn_from_its_own_generator_whatever_its_neighbours():
    logits = torch.randn(6, 40, generator=torch.Generator().manual_seed(2)) * 3
    settings = [RowSampling(0.7), RowSampling(1.0, top_k=5), RowSampling(0.0), RowSampling(1.2, top_p=0.8),
                RowSampling(1.0, 3, 0.5), RowSampling(0.9)]
    together = sample_rows(logits, settings, [torch.Generator().manual_seed(s) for s in range(6)])
    alone = [sample_rows(logits[r:r + 1], settings[r:r + 1], [torch.Generator().manual_seed(r)]) for r in range(6)]
    assert together.tolist() == [int(a) for a in alone]
    assert together[2] == logits[2].argmax()  # temperature 0 is greedy
    kept = set(torch.topk(logits[1], 5).indices.tolist())
    draws = sample_rows(logits[1:2].expand(400, 40), [settings[1]] * 400,
                        [torch.Generator().manual_seed(9)] * 400)
    assert set(draws.tolist()) <= kept and len(set(draws.tolist())) > 1  # top-k keeps exactly the k likeliest


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LanguageModel(30, ModelConfig(hidden_size=48, num_layers=2, cell="lstm", backend="fused")).eval()


def run_streams(batcher: Batcher, requests: list[tuple[list[int], int, int]]) -> list[list[int]]:
    texts = [[] for _ in requests]
    finished = threading.Semaphore(0)

    def sink(index):
        return lambda token: finished.release() if token is DONE else texts[index].append(token)

    batcher.submit([Stream(prime, length, RowSampling(0.9), seed, sink(i))
                    for i, (prime, length, seed) in enumerate(requests)])
    for _ in requests:
        assert finished.acquire(timeout=60)
    return texts


def test_streams_beyond_the_batch_wait_for_a_row_and_get_their_own_text(model):
    requests = [([1, 2, 3][: 1 + k % 3], 30 + 7 * k, k) for k in range(7)]  # ragged primes and lengths
    batcher = Batcher(model, torch.device("cpu"), "fp32", max_batch=3, max_waiting=4)
    try:
        batched = run_streams(batcher, requests)
    finally:
        batcher.close()
    for (prime, length, seed), tokens in zip(requests, batched, strict=True):
        alone = [int(t) for t in generate(model, torch.tensor([prime]), length, temperature=0.9,
                                          generator=torch.Generator().manual_seed(seed))]
        assert tokens == alone


def test_a_full_batch_and_queue_refuse_the_whole_request(model):
    batcher = Batcher(model, torch.device("cpu"), "fp32", max_batch=2, max_waiting=1)
    try:
        hold = threading.Event()
        blocking = [Stream([1], 10_000, RowSampling(), s, lambda t: hold.wait(10)) for s in range(3)]
        batcher.submit(blocking)
        with pytest.raises(QueueFull):
            batcher.submit([Stream([1], 5, RowSampling(), 9, lambda t: None)])
        for stream in blocking:
            stream.cancel()
        hold.set()
    finally:
        batcher.close()

"""Data-parallel training on torch.distributed: who this process is, and the collectives the loop needs.

``torchrun`` (or ``rnnkit train ... --nproc N``, which starts it) runs one process per rank and
sets RANK, WORLD_SIZE and LOCAL_RANK; ``join`` reads them once per process, as torch.distributed
keeps its own default group. Every rank builds the same model from the same seed and works on its
contiguous share of each global batch. A task's loss is its share of the global loss (its rows'
or tokens' part of the global mean), so the gradients summed over ranks, once per step after
backward, are the gradient one process computes on the whole batch. One flat all-reduce carries
them, with the loss, a stop request and the training clock, so every rank takes the same decisions.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from rnnkit.errors import UserError

BACKENDS = ("auto", "gloo", "nccl")
Rows = TypeVar("Rows")  # a list or an array of a batch's rows
TIMEOUT = datetime.timedelta(minutes=30)  # a leader preparing a large corpus keeps the others waiting
RANK_SEED_STRIDE = 1_000_003  # rank r's dropout generator: seed * stride + r + 1 (rank 0 of one process: untouched)


class FollowerDone(Exception):
    """Raised on every rank but 0 when training ends: the test scores, plots and summary that come
    after are the leader's, so the other ranks stop here (the command returns 0)."""


@dataclass(frozen=True)
class World:
    """This process's place among the ranks: a single process is rank 0 of 1."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = "none"
    devices: tuple[str, ...] = ()

    def describe(self) -> dict:
        """What ``config.json`` records of the launch: world size, backend, each rank's device."""
        return {"world_size": self.size, "backend": self.backend, "devices": list(self.devices),
                "run_id": launch_id()}

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes files, logs, samples and shows progress."""
        return self.rank == 0

    @property
    def comm_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def part(self, count: int) -> slice:
        """This rank's contiguous share of ``count`` rows; the first ``count % size`` ranks get one more."""
        base, extra = divmod(count, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def device(self, device: torch.device) -> torch.device:
        """One GPU per local rank; CPUs are shared."""
        if device.type == "cuda" and self.active:
            return torch.device("cuda", self.local_rank)
        return device

    def mine(self, chosen: Rows) -> Rows:
        """This rank's contiguous part of a global batch's rows (a list or an array)."""
        return chosen[self.part(len(chosen))]

    def share(self, mean: torch.Tensor, rows: float, total: float) -> torch.Tensor:
        """A loss averaged over this rank's ``rows`` as its part of the mean over all ``total``."""
        return mean if not self.active else mean * (rows / total)

    def sum(self, *values: float) -> list[float]:
        """Each value summed over the ranks (float64)."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(tensor)
        return tensor.cpu().tolist()

    def largest(self, value: int) -> int:
        """The largest of each rank's ``value``."""
        if not self.active:
            return value
        tensor = torch.tensor([value], dtype=torch.int64, device=self.comm_device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())

    def sync_step(self, parameters: list[torch.nn.Parameter], loss: torch.Tensor, stop: bool,
                  clock: float) -> tuple[float, bool, float]:
        """After backward: gradients summed over the ranks in place, and ``(loss summed, any rank
        asked to stop, mean training clock)``. A parameter no rank gave a gradient keeps none, as in
        one process; one that only some ranks reached (an empty share of a batch) gets the sum."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        reached = [float(p.grad is not None) for p in parameters]
        extra = torch.tensor([*reached, float(loss.detach()), float(stop), clock], dtype=grads[0].dtype,
                             device=grads[0].device)
        flat = torch.cat([*(g.reshape(-1) for g in grads), extra]).to(self.comm_device)
        dist.all_reduce(flat)
        flat = flat.to(grads[0].device)
        at = 0
        for grad in grads:
            grad.copy_(flat[at:at + grad.numel()].view_as(grad))
            at += grad.numel()
        for param, grad, hits in zip(parameters, grads, flat[at:at + len(parameters)].tolist(), strict=True):
            param.grad = grad if hits > 0 else None
        loss_sum, stops, clocks = flat[at + len(parameters):].tolist()
        return loss_sum, stops > 0, clocks / self.size

    def gather_rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's rows (dim 0, any count) concatenated in rank order, on every rank."""
        if not self.active:
            return tensor
        local = tensor.to(self.comm_device)
        counts = [torch.zeros(1, dtype=torch.int64, device=self.comm_device) for _ in range(self.size)]
        dist.all_gather(counts, torch.tensor([local.shape[0]], device=self.comm_device))
        longest = int(max(c.item() for c in counts))
        padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=self.comm_device)
        padded[: local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        return torch.cat([p[: int(c.item())] for p, c in zip(parts, counts, strict=True)]).to(tensor.device)

    def gather_sequences(self, sequences: list[list[int]]) -> list[list[int]]:
        """Every rank's lists of ids (any lengths), in rank order, on every rank."""
        if not self.active:
            return sequences
        width = self.largest(max((len(s) for s in sequences), default=0))
        rows = torch.full((len(sequences), width + 1), -1, dtype=torch.int64)
        for row, sequence in enumerate(sequences):
            rows[row, 0] = len(sequence)
            rows[row, 1:1 + len(sequence)] = torch.as_tensor(sequence, dtype=torch.int64)
        return [r[1:1 + int(r[0])].tolist() for r in self.gather_rows(rows)]

    def gather_text(self, text: str) -> list[str]:
        """Each rank's string, in rank order (device names for ``config.json``)."""
        encoded = [list(text.encode("utf-8"))]
        return [bytes(s).decode("utf-8") for s in self.gather_sequences(encoded)]

    def broadcast_text(self, text: str) -> str:
        """The leader's string on every rank (the run directory it made)."""
        return self.gather_text(text)[0]

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Rank 0's weights everywhere: the same seed should already agree, this makes sure."""
        if self.active:
            for tensor in [*module.parameters(), *module.buffers()]:
                synced = tensor.data.to(self.comm_device)
                dist.broadcast(synced, 0)
                tensor.data.copy_(synced)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


SINGLE = World()
_current = SINGLE


def current() -> World:
    """The world ``join`` set up (one process unless launched by torchrun)."""
    return _current


def launched() -> bool:
    """Whether torchrun (or ``--nproc``) started this process as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(backend: str = "auto", device: str = "auto") -> World:
    """Join the process group torchrun describes in the environment; one process stays ``SINGLE``."""
    global _current
    if not launched():
        return SINGLE
    if _current.active:
        return _current
    if backend not in BACKENDS:
        raise UserError(f"--dist-backend {backend}: use one of {', '.join(BACKENDS)}")
    cuda = device != "cpu" and torch.cuda.is_available()
    chosen = backend if backend != "auto" else "nccl" if cuda else "gloo"
    if chosen == "nccl" and not cuda:
        raise UserError("--dist-backend nccl needs CUDA GPUs; use --dist-backend gloo on CPUs")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if chosen == "nccl":
        torch.cuda.set_device(local_rank)
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group(chosen, store=attempt_store(rank, size), rank=rank, world_size=size, timeout=TIMEOUT)
    world = World(rank, size, local_rank, chosen)
    mine = world.device(torch.device("cuda" if cuda else "cpu"))
    _current = World(world.rank, world.size, local_rank, chosen, tuple(world.gather_text(str(mine))))
    return _current


def attempt_store(rank: int, size: int) -> dist.Store:
    """The rendezvous store torchrun names, with a prefix for this attempt of the group.

    After ``--max-restarts`` restarts a group, its workers meet in the store the previous attempt
    used; with the keys that attempt left there, a rank can read a dead rank's address and fail to
    connect or hang (on torch 2.13, 4 of 4 restarts in the kill test). A fresh prefix per attempt
    leaves the old keys unread."""
    agent_hosts_it = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), size,
                          is_master=rank == 0 and not agent_hosts_it, timeout=TIMEOUT, multi_tenant=True)
    return dist.PrefixStore(f"rnnkit/attempt-{restarted()}", store)


def leave(finished: bool = True) -> None:
    """Tear the process group down (at exit), so the launcher sees a clean finish.

    A rank that ``finished`` its command first waits for the others: the followers stop when
    training ends while the leader still scores the test split, and a group torn down on one side
    while gloo still talks on the other can abort the process (std::terminate, seen in CI). After a
    failure there is no waiting: the other ranks may be inside a different collective."""
    global _current
    if _current.active and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()
    _current = SINGLE


def no_rows() -> torch.Tensor:
    """The loss of a rank whose share of a short last batch is empty: no gradient, nothing to add."""
    return torch.zeros((), requires_grad=True)


def seed_rank(world: World, seed: int) -> None:
    """Per-rank dropout masks: each rank its own generator, derived from the seed."""
    if world.active:
        torch.manual_seed(seed * RANK_SEED_STRIDE + world.rank + 1)


def restarted() -> int:
    """How many times torchrun has restarted this worker group (0 on the first launch)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def launch_id() -> str | None:
    """torchrun's rendezvous id: the same across the restarts of one launch."""
    return os.environ.get("TORCHELASTIC_RUN_ID")


def may_restart() -> bool:
    """Whether torchrun was told it may restart the group (``--max-restarts`` above 0)."""
    return int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0

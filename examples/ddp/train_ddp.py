"""Data-parallel training with PyTorch DDP on CPU (gloo): each rank trains on its own disjoint shard.

Run it as a distributed stage (``distributed: {framework: pytorch, nodes: 2}``), or by hand:
``python -m torch.distributed.run --nproc-per-node 2 examples/ddp/train_ddp.py --out params.json``.
Without a launcher (no ``WORLD_SIZE``) it trains in one process on all the data, which DDP must
reproduce: with equal shards, averaging the ranks' gradients of their mean losses is the
gradient of the mean loss over all the data, so every step, and the final parameters, match.

Everything is deterministic: the data comes from a seeded generator, rank 0's initial
parameters are broadcast by DDP, and full-batch SGD has no sampling.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn


def make_data(n: int = 512, dim: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear regression problem with noise, the same in every process."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    w = torch.randn(dim, 1, generator=g)
    return x, x @ w + 0.1 * torch.randn(n, 1, generator=g)


def shard(x: torch.Tensor, y: torch.Tensor, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s disjoint, equal share: rows rank, rank + world, rank + 2·world, ..."""
    if len(x) % world:
        raise SystemExit(
            f"{len(x)} samples do not split evenly over {world} ranks: choose --samples divisible by it"
        )
    return x[rank::world], y[rank::world]


def make_model(dim: int, hidden: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if hidden:
        return nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    return nn.Linear(dim, 1)


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr: float,
    step_delay: float = 0.0,
    on_step=None,
) -> float:
    """Full-batch SGD on (x, y); returns the last loss. ``model`` may be wrapped in DDP."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss = torch.tensor(0.0)
    for step in range(steps):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()  # under DDP: gradients are averaged across ranks here
        opt.step()
        if on_step:
            on_step(step)
        if step_delay:
            time.sleep(step_delay)
    return loss.item()


def params_of(model: nn.Module) -> list[float]:
    module = model.module if hasattr(model, "module") else model
    return [float(v) for p in module.parameters() for v in p.detach().flatten()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=0, help="hidden units (0: a linear model)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--step-delay", type=float, default=0.0, help="sleep per step (tests that kill a run)")
    ap.add_argument("--out", type=Path, help="rank 0 writes the final parameters here (JSON)")
    ap.add_argument(
        "--fail-rank", type=int, default=-1, help="this rank exits with code 3 after step 1 (tests)"
    )
    args = ap.parse_args(argv)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world > 1
    if distributed:
        dist.init_process_group(backend=os.environ.get("AIINFRA_BACKEND", "gloo"))
    x, y = make_data(args.samples, args.dim)
    x, y = shard(x, y, rank, world)
    model = make_model(args.dim, args.hidden)
    if distributed:
        model = nn.parallel.DistributedDataParallel(model)

    def on_step(step: int) -> None:
        if rank == args.fail_rank and step == 1:
            print(f"rank {rank}: failing on purpose at step {step}", flush=True)
            sys.exit(3)

    if distributed:
        dist.barrier()
    start = time.perf_counter()
    loss = train(model, x, y, steps=args.steps, lr=args.lr, step_delay=args.step_delay, on_step=on_step)
    elapsed = time.perf_counter() - start
    throughput = args.samples * args.steps / elapsed  # all ranks together process the whole data per step
    print(
        f"rank {rank}/{world}: shard of {len(x)} samples, final loss {loss:.6f}, "
        f"{elapsed:.3f} s, {throughput:.0f} samples/s",
        flush=True,
    )
    if rank == 0:
        ckpt = os.environ.get("AIINFRA_CHECKPOINT_DIR")
        if ckpt:  # where a retried job would resume from
            Path(ckpt).mkdir(parents=True, exist_ok=True)
            module = model.module if distributed else model
            torch.save(module.state_dict(), Path(ckpt) / "model.pt")
        if args.out:
            args.out.write_text(
                json.dumps(
                    {
                        "params": params_of(model),
                        "loss": loss,
                        "world_size": world,
                        "seconds": elapsed,
                        "samples_per_second": throughput,
                    }
                )
            )
    if distributed:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Demo stage: the click model trained data-parallel with PyTorch DDP (CPU, gloo), each rank on its own shard.

It runs as a ``distributed:`` stage: torchrun starts the ranks, and the topology comes from the environment
(``WORLD_SIZE``, ``RANK``, ``AIINFRA_BACKEND``, ``AIINFRA_CHECKPOINT_DIR``; docs/distributed.md). Rank r
trains on rows r, r + world, r + 2·world, ... of the prepared data; DDP averages the gradients, so with equal
shards every step equals a full-batch step on all the data. Rank 0 evaluates on all the data, saves the
model in this DAG run's checkpoint directory (a retried task resumes from it) and logs its accuracy to the
pipeline's MLflow run (every rank has ``MLFLOW_RUN_ID``; rank 0 alone writes).
"""

import os
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn

FEATURES = ["user_click_count", "session_seconds"]
world = int(os.environ.get("WORLD_SIZE", "1"))
rank = int(os.environ.get("RANK", "0"))
if world > 1:
    dist.init_process_group(backend=os.environ.get("AIINFRA_BACKEND", "gloo"))

df = pd.read_parquet(Path(os.environ["DATA_DIR"]) / "train.parquet")
x_all = torch.tensor(df[FEATURES].to_numpy(), dtype=torch.float32)
y_all = torch.tensor(df["clicked"].to_numpy(), dtype=torch.float32).unsqueeze(1)
x_all = (x_all - x_all.mean(0)) / x_all.std(0)  # the same scaling on every rank
usable = len(x_all) - len(x_all) % world  # equal shards: drop the remainder
x, y = x_all[:usable][rank::world], y_all[:usable][rank::world]

torch.manual_seed(0)
model: nn.Module = nn.Linear(len(FEATURES), 1)
ckpt_dir = os.environ.get("AIINFRA_CHECKPOINT_DIR")
ckpt = Path(ckpt_dir) / "model.pt" if ckpt_dir else None
if ckpt is not None and ckpt.exists():  # a retry of this DAG run's task: resume
    model.load_state_dict(torch.load(ckpt))
    print(f"rank {rank}: resumed from {ckpt}", flush=True)
if world > 1:
    model = nn.parallel.DistributedDataParallel(model)  # broadcasts rank 0's parameters
opt = torch.optim.SGD(model.parameters(), lr=float(os.environ.get("LR", "0.5")))
steps = int(os.environ.get("STEPS", "200"))
for _ in range(steps):
    opt.zero_grad()
    loss = nn.functional.binary_cross_entropy_with_logits(model(x), y)
    loss.backward()  # under DDP: gradients averaged across ranks
    opt.step()
print(f"rank {rank}/{world}: {len(x)} rows (shard), final loss {loss.item():.4f}", flush=True)

if rank == 0:
    module = model.module if world > 1 else model
    with torch.no_grad():
        accuracy = float(((module(x_all) > 0).float() == y_all).float().mean())
    print(f"ddp accuracy={accuracy:.4f} over {len(x_all)} rows, {world} ranks", flush=True)
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        torch.save(module.state_dict(), ckpt)
    if os.environ.get("MLFLOW_RUN_ID"):
        from mlflow import MlflowClient

        # the pipeline's run: a metric of its own (params are write-once; the spec's topology is logged)
        MlflowClient().log_metric(os.environ["MLFLOW_RUN_ID"], "ddp_accuracy", accuracy)
if world > 1:
    dist.destroy_process_group()

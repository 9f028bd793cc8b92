"""Benchmark of the local DDP stage (runners.torchrun.LocalTorchRun + examples/ddp/train_ddp.py).

1. Training throughput (samples/s, measured inside the training loop after a barrier) at 1, 2
   and 4 processes on one simulated node, with the whole run's wall time.
2. The launcher's overhead: wall time of the same short run under LocalTorchRun (torchrun,
   1 × 1) minus running the script directly with ``python``.

Usage: ``.venv/bin/python benchmarks/ddp.py [--repeats 3]``; results in benchmarks/README.md (Local DDP stage).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_aiinfra.distributed.topology import Topology  # noqa: E402
from airflow_aiinfra.runners.torchrun import LocalTorchRun  # noqa: E402

SCRIPT = ROOT / "examples" / "ddp" / "train_ddp.py"
WORKLOAD = ["--samples", "4096", "--dim", "64", "--hidden", "512", "--steps", "150", "--lr", "0.01"]
SHORT = ["--samples", "256", "--steps", "5"]
log = logging.getLogger("bench")


def env(threads: int | None = 1) -> dict[str, str]:
    """One intra-op thread per process (torchrun sets it for > 1 process; set here for every row)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "OMP_NUM_THREADS"}
    if threads:
        out["OMP_NUM_THREADS"] = str(threads)
    return out


def under_torchrun(procs: int, args: list[str], tmp: Path, threads: int | None = 1) -> tuple[float, dict]:
    out = tmp / f"out-{procs}.json"
    run = LocalTorchRun(
        cmds=["python", str(SCRIPT)],
        args=[*args, "--out", str(out)],
        topology=Topology(nodes=1, procs_per_node=procs),
        env=env(threads),
        log=log,
        max_local_procs=8,
    )
    start = time.perf_counter()
    run.run()
    return time.perf_counter() - start, json.loads(out.read_text())


def direct(args: list[str], tmp: Path) -> tuple[float, dict]:
    out = tmp / "out-direct.json"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(out)],
        check=True,
        env=env(),
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start, json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    n = ap.parse_args().repeats
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {os.cpu_count()} CPUs; workload {' '.join(WORKLOAD)}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"load average before: {os.getloadavg()}")
        print("\n| processes | samples/s (median) | training loop s | whole run s (with start-up) |")
        print("|---|---|---|---|")
        base = None
        for procs, threads in ((1, None), (1, 1), (2, 1), (4, 1)):
            runs = [under_torchrun(procs, WORKLOAD, tmp, threads) for _ in range(n)]
            sps = statistics.median(r[1]["samples_per_second"] for r in runs)
            loop = statistics.median(r[1]["seconds"] for r in runs)
            wall = statistics.median(r[0] for r in runs)
            base = base or (sps if threads == 1 else None)
            label = f"{procs}" + (" (torch's default threads)" if threads is None else "")
            ratio = f" ({sps / base:.2f}×)" if base else ""
            print(f"| {label} | {sps:,.0f}{ratio} | {loop:.2f} | {wall:.2f} |")
        direct_runs, launched = [], []
        for _ in range(n + 2):  # interleaved, so load from elsewhere hits both alike
            direct_runs.append(direct(SHORT, tmp)[0])
            launched.append(under_torchrun(1, SHORT, tmp)[0])
        d_med, l_med = statistics.median(direct_runs), statistics.median(launched)
        print(
            f"\nshort run ({' '.join(SHORT)}), median of {len(launched)}: direct python {d_med:.2f} s, "
            f"LocalTorchRun 1×1 {l_med:.2f} s, launcher overhead {l_med - d_med:.2f} s"
        )
        print(f"direct: {[round(x, 2) for x in direct_runs]}, launched: {[round(x, 2) for x in launched]}")
        print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

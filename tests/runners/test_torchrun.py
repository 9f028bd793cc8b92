"""LocalTorchRun with real torchrun agents and a real DDP script (examples/ddp/train_ddp.py) on gloo.

DDP over disjoint shards must reproduce single-process full-batch training (here across two agents;
one agent with two ranks and the nccl→gloo fallback are checked through the whole stack, in
tests/e2e/test_distributed_dags_test.py); a failing rank, a timeout and a kill must each fail the run
and leave no process of the group behind."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from airflow_aiinfra.distributed.topology import Parallelism, Topology
from airflow_aiinfra.errors import LocalRunError
from airflow_aiinfra.runners.torchrun import LocalTorchRun, capped

torch = pytest.importorskip(
    "torch", reason="PyTorch is a test dependency: `make setup` installs the CPU build"
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "ddp" / "train_ddp.py"
LOG = logging.getLogger("tests.torchrun")


def example():
    spec = importlib.util.spec_from_file_location("train_ddp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> dict[str, list[float]]:
    """Single-process results computed in this process: all data full-batch, and shard 0 of 2 alone."""
    ddp = example()
    x, y = ddp.make_data(512, 8)
    full = ddp.make_model(8, 0)
    ddp.train(full, x, y, steps=50, lr=0.1)
    one = ddp.make_model(8, 0)
    ddp.train(one, *ddp.shard(x, y, 0, 2), steps=50, lr=0.1)
    return {"full": ddp.params_of(full), "shard": ddp.params_of(one)}


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}


def runner(tmp_path: Path, topology: Topology, *extra: str, **kw) -> LocalTorchRun:
    return LocalTorchRun(
        cmds=["python", str(SCRIPT)],
        args=["--out", str(tmp_path / "params.json"), *extra],
        topology=topology,
        env=env(),
        log=LOG,
        cwd=str(tmp_path),
        **kw,
    )


def leftovers(marker: str) -> list[str]:
    """Processes whose command line names this test's temporary directory (agents and ranks)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(p.info["cmdline"] or ()):
                found.append(f"{p.pid}: {' '.join(p.info['cmdline'])}")
        except psutil.Error:
            continue
    return found


def assert_close(a: list[float], b: list[float], tol: float = 1e-5) -> None:
    assert len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b, strict=True)) < tol, (a, b)


@pytest.mark.parametrize(
    "topology", [pytest.param(Topology(nodes=2, procs_per_node=1), id="2-nodes-x-1-proc")]
)
def test_ddp_on_shards_equals_full_batch(tmp_path: Path, topology: Topology, reference, caplog) -> None:
    caplog.set_level(logging.INFO, LOG.name)
    runner(tmp_path, topology, checkpoint_dir=str(tmp_path / "ckpt")).run()
    out = json.loads((tmp_path / "params.json").read_text())
    assert out["world_size"] == 2
    assert_close(out["params"], reference["full"])
    assert max(abs(x - y) for x, y in zip(out["params"], reference["shard"], strict=True)) > 1e-3
    assert "[rank 0] rank 0/2: shard of 256 samples" in caplog.text
    assert "[rank 1] rank 1/2: shard of 256 samples" in caplog.text
    assert (tmp_path / "ckpt" / "model.pt").exists()
    if topology.backend == "nccl":
        assert "backend nccl needs GPUs and this worker has none: using gloo" in caplog.text
    assert leftovers(str(tmp_path)) == []


def test_a_failing_rank_fails_the_run_and_ends_every_process(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, LOG.name)
    run = runner(
        tmp_path,
        Topology(nodes=2, procs_per_node=2),
        "--fail-rank",
        "1",
        "--steps",
        "100000",
        max_local_procs=2,
        timeout=120,
    )
    started = time.monotonic()
    with pytest.raises(LocalRunError, match=r"node 1 of 2 node\(s\) × 1 exited with code 1: a rank failed"):
        run.run()
    assert time.monotonic() - started < 60, (
        "the healthy node was not ended (torchrun waits 5 min at its barrier)"
    )
    assert "[rank 1] rank 1: failing on purpose at step 1" in caplog.text
    assert "exceed the local cap of 2: running 2 node(s) × 1 process(es)" in caplog.text
    assert leftovers(str(tmp_path)) == []


@pytest.mark.parametrize("how", ["timeout", "kill"])
def test_timeout_and_kill_end_the_whole_group(tmp_path: Path, how: str) -> None:
    # Timeout on the smallest group (1 agent + 1 rank); kill on two agents, where ranks could be orphaned.
    nodes = 1 if how == "timeout" else 2
    run = runner(
        tmp_path,
        Topology(nodes=nodes, procs_per_node=1),
        "--steps",
        "100000",
        "--step-delay",
        "0.01",
        timeout=8 if how == "timeout" else 120,
        grace_seconds=2,
    )
    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: _run_into(run, errors))
    worker.start()
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(seen) < 2 * nodes:  # the agents and their ranks
        seen |= {g.pid for g in run.groups} | {p.pid for g in run.groups for p in g.descendants()}
        time.sleep(0.2)
    assert len(seen) >= 2 * nodes, f"the ranks did not start: {seen}"
    if how == "kill":
        run.kill()
    worker.join(60)
    assert not worker.is_alive()
    [err] = errors
    assert isinstance(err, LocalRunError)
    assert ("did not finish within 8 s" if how == "timeout" else "killed") in str(err)
    alive = [
        pid for pid in seen if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == [] and leftovers(str(tmp_path)) == []


def _run_into(run: LocalTorchRun, errors: list[BaseException]) -> None:
    try:
        run.run()
    except BaseException as exc:  # handed to the test thread
        errors.append(exc)


def test_cap_keeps_tensor_and_pipeline_degrees() -> None:
    t = Topology(nodes=4, procs_per_node=8, parallelism=Parallelism(data=8, tensor=2, pipeline=2))
    small = capped(t, 4)
    assert (small.nodes, small.procs_per_node, small.degrees) == (4, 1, Parallelism(1, 2, 2))
    assert capped(Topology(nodes=2, procs_per_node=8), 4) == Topology(nodes=2, procs_per_node=2)
    with pytest.raises(
        ValueError, match="does not divide: raise the cap to at least 32 or to a multiple of 8"
    ):
        capped(Topology(nodes=4, procs_per_node=8, parallelism=Parallelism(4, 4, 2)), 4)


def test_command_forms() -> None:
    run = LocalTorchRun(
        cmds=["python", "-m", "pkg.train"], args=["--x"], topology=Topology(nodes=1), env={}, log=LOG
    )
    argv = run.agent_argv(0, 1234)
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"] and argv[-3:] == [
        "-m",
        "pkg.train",
        "--x",
    ]
    with pytest.raises(ValueError, match="already starts torchrun"):
        LocalTorchRun(cmds=["torchrun", "t.py"], topology=Topology(nodes=1), env={}, log=LOG)

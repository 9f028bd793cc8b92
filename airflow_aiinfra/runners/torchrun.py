"""Run a distributed PyTorch stage on the worker with PyTorch's own launcher, as subprocesses.

One ``python -m torch.distributed.run`` agent per simulated node, each starting
``procs_per_node`` ranks, meeting on 127.0.0.1 at a free port per run (torchrun's static
form: ``--nnodes N --node-rank i --master-addr --master-port``, so node i's ranks are
``i * procs_per_node + local_rank``). The package never imports torch: the launcher is a
subprocess. Every output line reaches the log prefixed by its global rank. One failing rank
fails the run and ends every other agent and rank at once (left alone, a healthy node's agent
waits 5 minutes at its exit barrier, and its ranks up to the backend's timeout); a timeout or
``kill()`` ends them all too.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from airflow_aiinfra.distributed.launch import script_argv
from airflow_aiinfra.distributed.topology import Parallelism, Topology
from airflow_aiinfra.errors import LocalRunError
from airflow_aiinfra.runners.procs import ProcessGroup, end_groups, free_port

DEFAULT_MAX_LOCAL_PROCS = 4
_TEE = re.compile(r"^\[n(\d+)-(\d+)\]:(.*)$")  # torchrun --tee prefix: [<role><local_rank>]:


def capped(topology: Topology, max_procs: int) -> Topology:
    """``topology`` shrunk to at most ``max_procs`` local processes, keeping several nodes when it had them.

    Tensor and pipeline degrees are kept; the data-parallel degree absorbs the change."""
    if max_procs < 1:
        raise ValueError(f"max local processes = {max_procs}: use a whole number >= 1")
    if topology.world_size <= max_procs:
        return topology
    procs = min(topology.procs_per_node, max(1, max_procs // min(topology.nodes, max_procs)))
    nodes = min(topology.nodes, max_procs // procs)
    world = nodes * procs
    p = topology.parallelism
    parallelism = None
    if p is not None:
        model = p.tensor * p.pipeline
        if world % model:
            raise ValueError(
                f"the local cap of {max_procs} processes leaves {nodes} × {procs} = {world}, which tensor={p.tensor} "
                f"× pipeline={p.pipeline} = {model} does not divide: raise the cap to at least {topology.world_size} "
                f"or to a multiple of {model}"
            )
        parallelism = Parallelism(data=world // model, tensor=p.tensor, pipeline=p.pipeline)
    return replace(topology, nodes=nodes, procs_per_node=procs, parallelism=parallelism)


def local_gpus() -> bool:
    """Whether this worker has NVIDIA GPUs (checked without importing torch)."""
    return shutil.which("nvidia-smi") is not None


class LocalTorchRun:
    """A distributed stage's command under torchrun on this machine.

    :param cmds: the stage command (``python train.py`` / ``python -m pkg``), as the pod would run it.
    :param env: the stage's environment (already without Airflow's secrets); topology variables are added.
    :param max_local_procs: cap on processes across all simulated nodes; applying it is logged.
    :param timeout: seconds before every process is ended and the run fails.
    """

    def __init__(
        self,
        *,
        cmds: Sequence[str] | None,
        args: Sequence[str] | None = None,
        topology: Topology,
        env: Mapping[str, str],
        log: Any,
        cwd: str | None = None,
        gpu: int = 0,
        checkpoint_dir: str | None = None,
        max_local_procs: int = DEFAULT_MAX_LOCAL_PROCS,
        timeout: float | None = None,
        grace_seconds: float = 5.0,
        python: str = sys.executable,
    ) -> None:
        self.script = script_argv(cmds, args)
        self.requested = topology
        self.topology = capped(topology, max_local_procs)
        self.env = dict(env)
        self.log = log
        self.cwd = cwd
        self.gpu = gpu
        self.checkpoint_dir = checkpoint_dir
        self.max_local_procs = max_local_procs
        self.timeout = timeout
        self.grace_seconds = grace_seconds
        self.python = python
        self.groups: list[ProcessGroup] = []
        self._lock = threading.Lock()
        self._killed = False

    def backend(self) -> str:
        if self.topology.backend == "nccl" and not (self.gpu > 0 and local_gpus()):
            return "gloo"
        return self.topology.backend

    def agent_argv(self, node_rank: int, port: int) -> list[str]:
        t = self.topology
        return [
            self.python,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            str(t.nodes),
            "--nproc-per-node",
            str(t.procs_per_node),
            "--node-rank",
            str(node_rank),
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(port),
            "--max-restarts",
            "0",
            "--role",
            f"n{node_rank}-",
            "--tee",
            "3",
            *self.script,
        ]

    def _line(self, node_rank: int, line: str) -> None:
        m = _TEE.match(line)
        if m:
            rank = int(m.group(1)) * self.topology.procs_per_node + int(m.group(2))
            self.log.info("[rank %d] %s", rank, m.group(3))
        else:
            self.log.info("[node %d] %s", node_rank, line)

    def _explain(self, port: int) -> str:
        t, r = self.topology, self.requested
        if t != r:
            self.log.warning(
                "local runner: %d × %d = %d processes exceed the local cap of %d: running %d node(s) × %d process(es) "
                "(data-parallel degree %d); set [aiinfra] max_local_procs to change it",
                r.nodes,
                r.procs_per_node,
                r.world_size,
                self.max_local_procs,
                t.nodes,
                t.procs_per_node,
                t.degrees.data,
            )
        if self.backend() != t.backend:
            self.log.warning("local runner: backend nccl needs GPUs and this worker has none: using gloo")
        self.log.info(
            "local runner: %d torchrun agent(s) × %d process(es), rendezvous 127.0.0.1:%d",
            t.nodes,
            t.procs_per_node,
            port,
        )
        return f"{t.nodes} node(s) × {t.procs_per_node}"

    def run(self) -> None:
        """Run to the end; raises LocalRunError on a failing rank, a timeout or kill()."""
        port = free_port()
        shape = self._explain(port)
        env = {
            **self.env,
            **self.topology.env(checkpoint_dir=self.checkpoint_dir, backend=self.backend()),
            "TORCHELASTIC_RUN_ID": uuid.uuid4().hex,
        }
        with self._lock:
            if self._killed:
                raise LocalRunError("the run was killed before it started")
            for node in range(self.topology.nodes):
                argv = self.agent_argv(node, port)
                self.log.info("local runner: node %d: %s", node, " ".join(argv))
                self.groups.append(
                    ProcessGroup(
                        argv, env=env, cwd=self.cwd, on_line=lambda line, n=node: self._line(n, line)
                    )
                )
        deadline = time.monotonic() + self.timeout if self.timeout else None
        try:
            while True:
                if self._killed:
                    raise LocalRunError("the run was killed: ended every agent and rank")
                codes = [g.poll() for g in self.groups]
                failed = [(n, c) for n, c in enumerate(codes) if c not in (None, 0)]
                if failed:
                    node, code = failed[0]
                    self.log.error("local runner: node %d exited with code %d: ending the others", node, code)
                    raise LocalRunError(
                        f"node {node} of {shape} exited with code {code}: a rank failed "
                        "(its traceback is above, prefixed by its rank)",
                        code,
                    )
                if all(c == 0 for c in codes):
                    for g in self.groups:
                        g.drain()
                    self.log.info("local runner: all %s processes finished", shape)
                    return
                if deadline is not None and time.monotonic() > deadline:
                    raise LocalRunError(
                        f"the run did not finish within {self.timeout:.0f} s: ended every process"
                    )
                time.sleep(0.1)
        finally:
            self._end()

    def kill(self) -> None:
        """End every agent and rank (TERM, then KILL after ``grace_seconds``); run() then fails. Safe to repeat."""
        with self._lock:
            self._killed = True
        self._end()

    def _end(self) -> None:
        with self._lock:
            groups = list(self.groups)
        if groups:
            end_groups(groups, grace=self.grace_seconds)

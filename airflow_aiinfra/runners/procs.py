"""Process groups for local runners: start each launcher in its own session, stream its output,
and end it with every descendant, so no worker outlives the task (killed, timed out or failed).

A launcher's workers can outlive it (torchrun's agent dies, its spawned ranks stay in a
collective for the backend's 30-minute timeout), so ending a group kills the process group
*and* every descendant found with psutil, TERM first, KILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (each run gets its own, so parallel runs do not collide)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcessGroup:
    """One launched command in its own session; ``pump`` hands each output line to ``on_line``."""

    def __init__(
        self, argv: Sequence[str], *, env: dict[str, str], cwd: str | None, on_line: Callable[[str], None]
    ) -> None:
        from airflow_aiinfra.errors import LocalRunError

        self.argv = list(argv)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                errors="replace",
                start_new_session=True,
            )
        except OSError as exc:
            raise LocalRunError(f"cannot start {self.argv[0]!r} in {cwd or os.getcwd()}: {exc}") from exc
        self._pump = threading.Thread(
            target=self._read, args=(on_line,), daemon=True, name=f"pump-{self.proc.pid}"
        )
        self._pump.start()

    def _read(self, on_line: Callable[[str], None]) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            on_line(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def drain(self, timeout: float = 5.0) -> None:
        """Wait for the output pump to reach the end of the output."""
        self._pump.join(timeout)

    def descendants(self) -> list[Any]:
        import psutil

        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def end_groups(groups: Sequence[ProcessGroup], grace: float = 5.0) -> None:
    """TERM every group's session and descendants, wait up to ``grace`` s, then KILL what is left."""
    import psutil

    procs: dict[int, Any] = {}
    for g in groups:
        for p in g.descendants():
            procs[p.pid] = p
        try:
            procs[g.pid] = psutil.Process(g.pid)
        except psutil.NoSuchProcess:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for g in groups:
            try:
                os.killpg(g.pid, sig)  # the session: workers that stayed in the launcher's group
            except (ProcessLookupError, PermissionError):
                pass
        for p in list(procs.values()):
            try:
                p.send_signal(sig)  # descendants that left the group (setsid) are still children
            except psutil.NoSuchProcess:
                procs.pop(p.pid, None)
        _, alive = psutil.wait_procs(list(procs.values()), timeout=grace if sig == signal.SIGTERM else 5.0)
        procs = {p.pid: p for p in alive}
        if not procs:
            break
    for g in groups:
        try:
            g.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        g.drain(timeout=2)

"""Run a stage's command as a subprocess on the worker: the laptop/CI stand-in for a pod.

Trust: under ``runner = local`` a stage's ``command`` is the team's own code running on the worker as the
worker's user, with the worker's environment (minus Airflow's own settings and secrets): for trusted,
single-team use. The first local run in a worker process says so in the task log (``log_trust_once``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

# Never hand Airflow's own secrets (DB URL, connections, variables) to stage code.
_HIDDEN_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "_AIRFLOW")


TRUST_NOTE = ("local runner: stage commands run on this worker as its user {user!r} (uid {uid}), with the worker's "
              "environment minus Airflow's settings: trusted, single-team use only; [aiinfra] runner = kubernetes "
              "runs each stage in its own pod")
_trust_logged = False


def log_trust_once(log: Any) -> None:
    """Say once per worker process what the local runner trusts a stage's command with."""
    global _trust_logged
    if _trust_logged:
        return
    _trust_logged = True
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    log.warning(TRUST_NOTE.format(user=user, uid=os.getuid()))


def mask_secret_env(secrets: Any, base: dict[str, str] | None = None) -> list[str]:
    """Register with Airflow's secrets masker the worker's values of the env vars a stage's secret references
    name (``secrets: [{secret, key, env}]``: under the local runner the worker's own variable stands in for the
    Kubernetes Secret), so a stage that prints one shows ``***`` in the task log. Returns the names masked."""
    from airflow.sdk.log import mask_secret

    env = base if base is not None else os.environ
    masked = []
    for ref in secrets or []:
        name = getattr(ref, "deploy_target", None) if getattr(ref, "deploy_type", None) == "env" else None
        if name and env.get(name):
            mask_secret(env[name])  # no name: a name would mask only sensitive-looking ones
            masked.append(name)
    return masked


def stage_env(env_vars: Any, gpu: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The subprocess environment: the worker's (minus Airflow secrets) + the stage's env."""
    env = {k: v for k, v in (base if base is not None else os.environ).items() if not k.startswith(_HIDDEN_PREFIXES)}
    if isinstance(env_vars, dict):
        env.update({k: str(v) for k, v in env_vars.items()})
    else:  # list of V1EnvVar
        env.update({e.name: str(e.value) for e in env_vars or [] if e.value is not None})
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(gpu))
    return env


def unenforced(op: Any) -> list[str]:
    """What a pod would get that a subprocess cannot: said in the log, not silently dropped."""
    notes = [f"image {op.image!r} is not pulled: the command runs in the worker's environment"]
    res = op.container_resources
    for kind in ("requests", "limits"):
        values = {k: v for k, v in ((getattr(res, kind, None) or {}).items()) if not k.endswith("/gpu")}
        if values:
            notes.append(f"resource {kind} {values} are not enforced")
    if op.volumes:
        notes.append(f"volumes {[v.name for v in op.volumes]} are not mounted")
    if op.secrets:
        names = sorted({s.secret for s in op.secrets})
        notes.append(f"Kubernetes Secrets {names} are not available; set their env vars on the worker instead")
    if op.node_selector or op.tolerations or op.affinity:
        notes.append("node selector, tolerations and affinity do not apply")
    if op.security_context:
        notes.append("the pod security context (run-as user, seccomp) does not apply")
    return notes


class LocalStageRun:
    """One subprocess, streamed into the task log; killed with its process group on timeout."""

    def __init__(self, op: Any) -> None:
        self.op = op
        self.proc: subprocess.Popen[str] | None = None

    def run(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

        from airflow_aiinfra.operators.samples import redact

        op = self.op
        log = op.log
        if not op.cmds:
            raise AirflowFailException(
                f"stage {op.task_id!r} has no `command`, so the local runner cannot run it (an image's "
                "entrypoint only exists in the image): add `command:` to the stage, or set "
                "[aiinfra] runner = kubernetes"
            )
        argv = [*op.cmds, *(op.arguments or [])]
        if argv[0] in ("python", "python3"):
            # In an image "python" is the image's interpreter; on the worker it is the worker's own.
            argv[0] = sys.executable
        gpu = getattr(op, "gpu_count", 0)
        log_trust_once(log)
        masked = mask_secret_env(op.secrets)
        if masked:
            log.info("local runner: secret env vars %s come from the worker's environment (masked in this log)",
                     masked)
        for note in unenforced(op):
            log.warning("local runner: %s", note)
        log.info("local runner: CUDA_VISIBLE_DEVICES=%r for %d requested GPU(s)", ",".join(map(str, range(gpu))), gpu)
        log.info("local runner: running %s in %s", argv, op.local_cwd or os.getcwd())
        try:
            self.proc = subprocess.Popen(
                argv, cwd=op.local_cwd or None, env=stage_env(op.env_vars, gpu), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
            )
        except OSError as exc:
            raise AirflowException(f"cannot start {argv[0]!r}: {exc}") from exc
        try:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:  # the masker on each line: the stage may print a secret it was given
                log.info("%s", redact(line.rstrip("\n")))
            code = self.proc.wait()
        finally:
            self.kill()
        if code in (op.skip_on_exit_code or []):
            raise AirflowSkipException(f"stage exited with {code}, which skip_on_exit_code marks as skipped")
        if code != 0:
            raise AirflowException(f"stage {op.task_id!r} command exited with code {code}")
        log.info("stage %r finished with exit code 0", op.task_id)

    def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

"""``aiinfra shards N``: one loader file per parse unit, so each unit stays far inside the
dag-processor's timeout and one slow or broken unit never takes the others down."""

from __future__ import annotations

from pathlib import Path

_TEMPLATE = '''"""aiinfra parse unit {i} of {n} (written by `aiinfra shards {n}`); set [aiinfra] parse_shards = {n}."""

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator  # noqa: F401

from airflow_aiinfra.wiring.loader import load_dags

load_dags(globals(), shard={i}, shards={n})
'''


def write_shard_files(dags_dir: Path, count: int) -> list[Path]:
    if count < 1:
        raise SystemExit("shard count must be at least 1")
    dags_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for old in dags_dir.glob("aiinfra_dags_*.py"):
        old.unlink()
    for i in range(count):
        path = dags_dir / f"aiinfra_dags_{i}.py"
        path.write_text(_TEMPLATE.format(i=i, n=count))
        written.append(path)
    single = dags_dir / "aiinfra_dags.py"
    if count > 1 and single.exists():
        single.unlink()  # it would load every spec a second time
    return written

"""Secrets with positive controls, through a real `airflow dags test`: a password planted in the Airflow
connection a SQL gate uses, and a token in the worker's environment that a local-runner stage reads through a
secret reference. Each reaches its consumer (the gate connects and reads its rows; the stage prints the token
and a hash of it, and writes the hash to a file), Airflow's masker hides both in the task log, and neither is in
`aiinfra render`, the DAG docs, XCom, the MLflow params or the spec artifact, nor in any file the run left
(the Data Docs pages included)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import AirflowHome, fresh_database, run_succeeded

PASSWORD = "pg-pw-7Qe2Lr9xWc4m"  # the Airflow connection's password
TOKEN = "wh-tok-5Hn8Vb3Zt6Kp"  # the worker's env var behind the stage's secret reference

SPEC = """
name: secretrun
defaults: {retries: 0}
training_pipeline:
  stages:
    - name: train
      image: trainer:1
      command: ["python", "-c", "import hashlib, os; t = os.environ['WAREHOUSE_TOKEN']; print('stage sees', t); h = hashlib.sha256(t.encode()).hexdigest(); print('stage hash', h); open('seen.sha256', 'w').write(h)"]
      secrets: [{secret: warehouse, key: token, env: WAREHOUSE_TOKEN}]
data_quality:
  gates:
    - name: users
      data: {query: "SELECT id, note FROM users WHERE day = :day", conn_id: dq_secret, params: {day: "{{ ds }}"}}
      before: [train]
      on_failure: warn
      expectations:
        - expect_table_row_count_to_equal: {value: 2}
        - expect_column_values_to_be_in_set: {column: note, value_set: [ok]}
experiment: {name: secretrun}
"""


def _files_holding(root: Path, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.integration
def test_planted_secrets_reach_their_consumers_and_nobody_else(airflow_home: AirflowHome, postgres_url: str) -> None:
    import sqlalchemy

    url = fresh_database("aiinfra_secrets_e2e")
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as db:  # the password is also in the data: the gate's sample would carry it to log/XCom
        db.execute(sqlalchemy.text("CREATE TABLE users (id int, note text, day text)"))
        db.execute(sqlalchemy.text("INSERT INTO users VALUES (1, 'ok', '2024-06-01'), (2, :pw, '2024-06-01'), "
                                   "(3, 'ok', '2024-06-02')"), {"pw": PASSWORD})
    engine.dispose()
    db_name = url.rsplit("/", 1)[1]
    airflow_home.extra_env["AIRFLOW_CONN_DQ_SECRET"] = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/{db_name}"
    airflow_home.extra_env["WAREHOUSE_TOKEN"] = TOKEN
    spec_path = airflow_home.add_spec("secretrun.yaml", SPEC)

    proc = airflow_home.dags_test("secretrun__pipeline", "2024-06-01")
    out = proc.stdout + proc.stderr
    assert run_succeeded(proc), out[-4000:]

    # positive controls: each secret reached its consumer
    con = sqlite3.connect(airflow_home.home / "airflow.db")
    xcom = {(t, k): v for t, k, v in con.execute("SELECT task_id, key, value FROM xcom WHERE dag_id = ?",
                                                   ("secretrun__pipeline",))}
    (doc_md,) = con.execute("SELECT data FROM serialized_dag WHERE dag_id = ?", ("secretrun__pipeline",)).fetchone()
    con.close()
    gate = xcom[("data_quality.users", "return_value")]
    gate_text = gate if isinstance(gate, str) else gate.decode()
    assert '"rows": 2' in gate_text and '"status": "warn"' in gate_text  # connected with the password, read rows
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    assert (airflow_home.root / "seen.sha256").read_text() == digest  # the stage saw the real token
    assert f"stage hash {digest}" in out

    # the masker hid both where they would have shown: the stage's print, the gate's sample (the row holding the
    # password is masked only because fetching the connection registered its password: the gate runs first)
    assert "stage sees ***" in out and "e.g. '***'" in out and "***" in gate_text
    assert TOKEN not in out and PASSWORD not in out

    # and nowhere else: render, DAG docs (serialized DAG), XCom, MLflow params and spec artifact, any file left
    from airflow_aiinfra.wiring.render import render_spec

    rendered = render_spec(str(spec_path))
    assert "warehouse" in rendered and TOKEN not in rendered and PASSWORD not in rendered
    assert "secretrun" in str(doc_md) and TOKEN not in str(doc_md) and PASSWORD not in str(doc_md)
    assert not any(s in str(v) for v in xcom.values() for s in (TOKEN, PASSWORD))
    mlflow_db = sqlite3.connect(airflow_home.home / "mlflow.db")  # the embedded store, read without mlflow
    params = [v for (v,) in mlflow_db.execute("SELECT value FROM params")]
    mlflow_db.close()
    assert params and not any(s in v for v in params for s in (TOKEN, PASSWORD))
    (spec_artifact,) = (airflow_home.home / "mlartifacts").rglob("spec/secretrun.yaml")
    assert "WAREHOUSE_TOKEN" in spec_artifact.read_text()
    assert TOKEN not in spec_artifact.read_text() and PASSWORD not in spec_artifact.read_text()
    leaks = _files_holding(airflow_home.root, TOKEN) + _files_holding(airflow_home.root, PASSWORD)
    assert leaks == [], leaks
    assert os.environ.get("WAREHOUSE_TOKEN") is None  # planted in the worker only, never in this process

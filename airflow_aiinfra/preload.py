"""Import everything DAG parsing needs, once, in the process Airflow forks parse processes from.

Airflow's dag-processor forks one process per DAG file and re-parses every file every 30 s. Before it
forks, it imports only the ``airflow.*`` modules a file names, so each parse of an aiinfra loader file pays
for importing this package and building its pydantic spec models (about 30–40 ms of CPU here,
benchmarks/README.md). Airflow imports ``airflow_local_settings`` in every one of its processes at start, the
dag-processor's parent included; one line there makes every parse process inherit the package ready-made::

    # $AIRFLOW_HOME/config/airflow_local_settings.py
    import airflow_aiinfra.preload  # noqa: F401

No heavy library is imported (no mlflow, feast, great_expectations, pandas), and nothing touches a network
or a database. Scheduler, API server and workers import it too; it costs them a few MB and tens of ms once.
"""

from __future__ import annotations

from airflow_aiinfra.plan import build as _plan_build  # noqa: F401
from airflow_aiinfra.spec import load as _spec_load  # noqa: F401
from airflow_aiinfra.spec.model import sections as _sections
from airflow_aiinfra.wiring import builders as _builders
from airflow_aiinfra.wiring import loader as _loader  # noqa: F401

for _name in _sections.SECTIONS:
    _sections.section_model(_name)  # build every section's models now, not in each parse process
for _builder in _builders.BUILDERS.values():
    _builder.operator  # noqa: B018 - import every operator module now

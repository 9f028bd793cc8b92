"""One module per integration; importing this package registers every task kind's builder."""

from airflow_aiinfra.wiring.builders import experiment, features, quality, stage  # noqa: F401

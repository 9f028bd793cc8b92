"""Model serving for the local/VM canary: one slot (``stable``, ``canary``) per process.

Each slot is MLflow's own scoring app (``mlflow.pyfunc.scoring_server.init``) behind a thin outer app that
adds Prometheus metrics labelled by slot and model version, an ``X-Model-Version`` response header, a
small admin API to hot-swap the served version, readiness, and a sampled request log. Run it with
``python -m airflow_aiinfra.serving --slot stable --port 8001 --model-uri models:/recsys@champion``.

Importing this package (or :mod:`.config`, :mod:`.names`, :mod:`.client`, :mod:`.haproxy_config`) is
light: MLflow, pandas and FastAPI are imported only by the server process (:mod:`.app`, :mod:`.slot`).
"""

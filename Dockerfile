# The airflow-aiinfra image: the official Airflow 3.3.2 image plus this provider, installed from uv.lock
# (the same versions the test suite ran against). Used by every Airflow service in docker-compose.yaml and by
# the MLflow tracking server (mlflow and psycopg2 are in the lock).
#
#   docker build -t airflow-aiinfra:dev .
#
# DAG files and specs are NOT baked in: they come from the DAG bundle (a mounted folder in docker-compose.yaml,
# a git bundle in production; see docs/deployment.md), so a spec change never needs a new image.
FROM apache/airflow:3.3.2-python3.11

ARG UV_VERSION=0.13.9
USER airflow
WORKDIR /opt/aiinfra

# Dependencies first (their own layer, rebuilt only when the lock changes). `uv export` turns the lock into
# pinned requirements; apache-airflow stays at the image's 3.3.2 because the lock pins that version too.
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && uv export --frozen --no-dev --no-emit-project --no-hashes --no-header -o /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the provider itself (entry points: provider info, plugin, the `aiinfra` CLI).
COPY --chown=airflow:0 airflow_aiinfra ./airflow_aiinfra
RUN pip install --no-cache-dir --no-deps . \
    && python -c "import airflow_aiinfra, airflow.providers.celery" \
    && aiinfra --help > /dev/null

# Every Airflow process imports airflow_local_settings when it starts: preload the factory there, so the
# dag-processor's parse processes and the workers' task processes inherit it (docs/deployment.md#preload).
RUN mkdir -p /opt/airflow/config \
    && printf 'import airflow_aiinfra.preload  # noqa: F401\n' > /opt/airflow/config/airflow_local_settings.py

ENV GX_ANALYTICS_ENABLED=False \
    MLFLOW_ENABLE_TELEMETRY=false
WORKDIR /opt/airflow

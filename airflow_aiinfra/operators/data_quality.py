"""The data-quality gate: validate a dataset with Great Expectations 1.x when the task runs.

Outcomes, kept distinct on purpose:

- data passes → success;
- data fails, ``on_failure: fail`` → :class:`DataQualityFailed` (never retried: bad data does not
  fix itself), so the stages behind the gate do not run;
- data fails, ``on_failure: warn`` → success, with the failures in the log table, XCom and a
  ``data_quality.<gate>=warn`` tag on the MLflow run;
- data cannot be reached → :class:`~airflow_aiinfra.errors.DataSourceUnavailable` (retried);
- the gate itself is wrong (suite file, custom expectation module, bad SQL) →
  :class:`DataQualityConfigError` (not retried).

In every case where validation ran, the result is pushed to XCom (``return_value``) before the
task ends, and Data Docs for the run are linked from the task ("Data Docs" extra link).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowFailException

from airflow_aiinfra import config
from airflow_aiinfra.errors import AiinfraError
from airflow_aiinfra.hooks.data_source import DataSourceHook, resolve_path
from airflow_aiinfra.locations import check_resolved
from airflow_aiinfra.operators.failures import permanent_fails
from airflow_aiinfra.operators.samples import for_output, mask_files, samples_on
from airflow_aiinfra.quality import data_docs


class DataQualityFailed(AirflowFailException):
    """The data did not meet the gate's expectations (``on_failure: fail``); not retried."""


class DataQualityConfigError(AirflowFailException):
    """The gate cannot run as configured (suite file, custom expectations, query); not retried."""


class DataDocsLink(BaseOperatorLink):
    """Extra link from a gate task to the Data Docs page of its validation.

    Airflow 3 calls ``get_link`` on the worker when the task ends and stores the URL in XCom,
    so the operator instance that just ran knows it."""

    name = "Data Docs"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        return getattr(operator, "data_docs_url", None) or ""


class DataQualityOperator(BaseOperator):
    """Validate one dataset (a Parquet/CSV file or folder, or a SQL query) with GX 1.x.

    :param gate: the gate's name (used for the suite, the Data Docs path, the MLflow tag).
    :param path: file or folder, local or fsspec URL; relative paths resolve against ``base_dir``.
    :param format: ``parquet`` or ``csv`` (for ``path``).
    :param query: SQL run read-only on Airflow connection ``conn_id`` instead of a path: one statement,
        never templated; run values are ``:name`` placeholders (``airflow_aiinfra.sql``).
    :param query_params: the placeholders' values (templated), bound by the driver, never put into the SQL text.
    :param expectations: ``[{expectation_name: {arguments}}, ...]`` as in GX.
    :param suite_path: an existing GX expectation suite (JSON), relative to ``base_dir`` or a URL.
    :param on_failure: ``fail`` or ``warn``.
    :param base_dir: the bundle root relative paths are resolved against.
    :param build_data_docs: build the HTML Data Docs of each run (``[aiinfra] data_docs_folder``).
    """

    # the query is not a template field: run values reach the database only as bound parameters
    template_fields: Sequence[str] = ("path", "query_params", "suite_path")
    operator_extra_links = (DataDocsLink(),)
    ui_color = "#fff4e0"

    def __init__(
        self,
        *,
        gate: str,
        path: str | None = None,
        format: Literal["parquet", "csv"] | None = None,
        query: str | None = None,
        conn_id: str | None = None,
        query_params: dict[str, Any] | None = None,
        expectations: list[dict[str, dict[str, Any] | None]] | None = None,
        suite_path: str | None = None,
        on_failure: Literal["fail", "warn"] = "fail",
        base_dir: str | None = None,
        build_data_docs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (path is None) == (query is None):
            raise ValueError("give exactly one of path or query")
        if on_failure not in ("fail", "warn"):
            raise ValueError(f"on_failure must be 'fail' or 'warn', got {on_failure!r}")
        self.gate = gate
        self.path = path
        self.format = format or "parquet"
        self.query = query
        self.conn_id = conn_id
        self.query_params = dict(query_params or {})
        self.expectations = list(expectations or [])
        self.suite_path = suite_path
        self.on_failure = on_failure
        self.base_dir = base_dir
        self.build_data_docs = build_data_docs
        self.data_docs_url: str | None = None

    # --- steps ---------------------------------------------------------------------------------------
    @cached_property
    def hook(self) -> DataSourceHook:
        return DataSourceHook(self.conn_id)

    def source(self) -> str:
        """The rendered path, resolved and checked to be a data location (DataLocationRefused otherwise)."""
        if self.path is not None:
            return check_resolved(self.path, self.base_dir, config.data_roots())
        return f"query on {self.conn_id}"

    def read(self) -> Any:
        """The data as a DataFrame. DataSourceUnavailable (retried) when it cannot be reached."""
        if self.path is not None:
            return self.hook.read_path(self.source(), self.format)
        assert self.query is not None
        return self.hook.read_query(self.query, self.query_params)

    def import_custom_expectations(self) -> None:
        module = config.gx_custom_expectations_module()
        if not module:
            return
        from airflow_aiinfra.quality.gx import import_gx

        import_gx()  # analytics default applies before the module imports GX itself
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise DataQualityConfigError(
                f"[aiinfra] gx_custom_expectations_module = {module!r} cannot be imported: {exc}"
            ) from exc

    def validate_frame(self, df: Any, *, run_name: str, docs_dir: Path | None) -> dict[str, Any]:
        """Validate a DataFrame; the plain-data summary (also what the benchmark measures)."""
        from airflow_aiinfra.quality import gx as gxh

        suite_json = None
        if self.suite_path:
            suite_json = gxh.read_suite(resolve_path(self.suite_path, self.base_dir))
        context = gxh.ephemeral_context(docs_dir)
        suite = gxh.build_suite(self.gate, self.expectations, suite_json)
        validation = gxh.validate(df, suite, context=context, run_name=run_name, build_docs=docs_dir is not None,
                                  samples=samples_on())
        summary = gxh.summarize(validation.result)
        if validation.docs_error:
            self.log.warning("Data Docs were not built: %s", validation.docs_error)
        if docs_dir is not None:
            mask_files(docs_dir)  # the pages show unexpected values too
        if validation.docs_page is not None and docs_dir is not None:
            root = config.data_docs_folder()
            try:
                data_docs.share_static_assets(docs_dir, root)
            except OSError as exc:
                self.log.warning("could not share Data Docs static assets: %s", exc)
            from urllib.parse import quote

            relative = validation.docs_page.resolve().relative_to(root.resolve()).as_posix()
            self.data_docs_url = data_docs.data_docs_url(quote(relative))
        return summary

    # --- the task ------------------------------------------------------------------------------------
    def execute(self, context: Any) -> None:
        started = time.monotonic()
        self.import_custom_expectations()
        with permanent_fails(DataQualityConfigError, f"gate {self.gate!r}: "):
            df = self.read()
        read_s = time.monotonic() - started
        ti = context["ti"]
        run_id = context.get("run_id") or ti.run_id
        docs_dir = data_docs.run_folder(ti.dag_id, run_id, self.gate) if self.build_data_docs else None
        with permanent_fails(DataQualityConfigError, f"gate {self.gate!r}: "):
            summary = self.validate_frame(df, run_name=data_docs.safe_segment(run_id), docs_dir=docs_dir)
        status = "passed" if summary["success"] else ("warn" if self.on_failure == "warn" else "failed")
        result = for_output({
            "gate": self.gate,
            "status": status,
            "on_failure": self.on_failure,
            "source": self.source(),
            "rows": int(len(df)),
            "columns": [str(c) for c in df.columns],
            "data_docs": self.data_docs_url,
            "seconds": {"read": round(read_s, 3), "total": round(time.monotonic() - started, 3)},
            **summary,
        })
        ti.xcom_push(key="return_value", value=result)
        (self.log.info if summary["success"] else self.log.warning)("%s", format_table(result))
        self._log_to_mlflow(context, result)
        if status == "failed":
            raise DataQualityFailed(failure_message(result))
        if status == "warn":
            self.log.warning("DATA QUALITY WARNING: %s (on_failure: warn, the pipeline goes on)",
                             failure_message(result))

    def _log_to_mlflow(self, context: Any, result: dict[str, Any]) -> None:
        from airflow_aiinfra.operators.pipeline_run import log_to_pipeline_run

        try:
            attached = log_to_pipeline_run(
                context,
                dicts={f"data_quality/{self.gate}.json": result},
                tags={f"data_quality.{self.gate}": result["status"]},
            )
        except AiinfraError as exc:  # MLflow down must not turn a data verdict into another error
            self.log.warning("could not attach the result to the MLflow run: %s", exc)
            return
        if attached:
            self.log.info("result attached to the MLflow run of this DAG run")


def failure_message(result: dict[str, Any]) -> str:
    failed = result["failed"]
    names = ", ".join(_label(e) for e in failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
    stats = result.get("statistics", {})
    docs = f"; Data Docs: {result['data_docs']}" if result.get("data_docs") else ""
    return (f"data quality gate {result['gate']!r} failed {len(failed)} of "
            f"{stats.get('evaluated_expectations', '?')} expectations on {result['rows']} rows "
            f"from {result['source']}: {names}{docs}")


def _label(entry: dict[str, Any]) -> str:
    column = entry["kwargs"].get("column")
    return f"{entry['expectation']}({column})" if column else entry["expectation"]


def _observed(entry: dict[str, Any]) -> str:
    if "exception" in entry:
        return f"error: {entry['exception']}"
    parts = []
    if "observed_value" in entry:
        parts.append(f"observed {entry['observed_value']!r}")
    if entry.get("unexpected_count"):
        pct = entry.get("unexpected_percent")
        parts.append(f"{entry['unexpected_count']} unexpected" + (f" ({pct:.2f}%)" if pct is not None else ""))
    if entry.get("unexpected_sample"):
        sample = entry["unexpected_sample"][:5]
        parts.append("e.g. " + ", ".join(repr(v) for v in sample))
    return "; ".join(parts) or "-"


def format_table(result: dict[str, Any]) -> str:
    """The result as a fixed-width table for the task log."""
    stats = result.get("statistics", {})
    head = (f"Data quality gate {result['gate']!r}: {result['status'].upper()} "
            f"({stats.get('successful_expectations', 0)}/{stats.get('evaluated_expectations', 0)} expectations met, "
            f"{result['rows']} rows, {result['source']})")
    rows = [("", "expectation", "observed")]
    rows += [("ok" if e["success"] else "FAIL", _label(e), "-" if e["success"] else _observed(e))
             for e in result["expectations"]]
    w0 = max(len(r[0]) for r in rows)
    w1 = min(max(len(r[1]) for r in rows), 70)
    lines = [head] + [f"  {a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    if result.get("data_docs"):
        lines.append(f"  Data Docs: {result['data_docs']}")
    return "\n".join(lines)

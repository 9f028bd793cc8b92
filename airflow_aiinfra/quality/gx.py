"""Great Expectations 1.x: build a suite from a gate's expectations, validate a DataFrame, summarize the result.

GX is imported inside functions only (``import_gx``, with usage statistics off unless the user turned them
on). A suite or expectation that cannot work however often it is retried raises
:class:`~airflow_aiinfra.errors.GateDefinitionError`; the operator decides what fails the task.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_aiinfra.errors import GateDefinitionError

SITE_NAME = "aiinfra"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
SAMPLE = 20  # unexpected values kept per failed expectation


def import_gx() -> Any:
    """Import GX with usage statistics off unless the user turned them on (GX_ANALYTICS_ENABLED),
    and its import-time INFO chatter out of task logs unless a level was configured for it."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import logging

    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET:
        gx_log.setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


def analytics_enabled() -> bool:
    return os.environ.get("GX_ANALYTICS_ENABLED", "False").strip().lower() in ("1", "true", "yes", "on")


def ephemeral_context(docs_dir: Path | None) -> Any:
    """An in-memory GX context (nothing written but Data Docs), progress bars off."""
    gx = import_gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir is not None:
        sites[SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            # the validation page already lists every expectation: skip the suite page (a third of the
            # build time) and the profiling section (no profiler runs here)
            "site_section_builders": {"expectations": "0", "profiling": "0"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=analytics_enabled(),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        data_docs_sites=sites,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def build_suite(name: str, expectations: list[dict[str, Any]], suite_json: dict[str, Any] | None) -> Any:
    """An ExpectationSuite from a suite file's JSON (optional) plus the spec's ``{name: args}`` entries."""
    gx = import_gx()
    from great_expectations.compatibility.pydantic import ValidationError
    from great_expectations.exceptions import ExpectationNotFoundError, GreatExpectationsError
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        suite = gx.ExpectationSuite(
            name=name, expectations=(suite_json or {}).get("expectations") or [],
            meta=(suite_json or {}).get("meta"),
        )
    except (GreatExpectationsError, ValidationError, TypeError, KeyError) as exc:
        raise GateDefinitionError(f"the expectation suite file is not a GX 1.x suite: {exc}") from exc
    for entry in expectations:
        for exp_name, args in entry.items():
            try:
                suite.add_expectation(get_expectation_impl(exp_name)(**(args or {})))
            except ExpectationNotFoundError as exc:
                raise GateDefinitionError(
                    f"unknown expectation {exp_name!r}: not built into GX and not registered by "
                    "[aiinfra] gx_custom_expectations_module"
                ) from exc
            except (ValidationError, TypeError) as exc:
                detail = " ".join(str(exc).split())
                raise GateDefinitionError(f"bad arguments for {exp_name}: {detail}") from exc
    return suite


def read_suite(path: str) -> dict[str, Any]:
    import fsspec

    try:
        with fsspec.open(path, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, PermissionError) as exc:
        raise GateDefinitionError(f"expectation suite {path!r} cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise GateDefinitionError(f"expectation suite {path!r} is not JSON: {exc}") from exc


@dataclass
class Validation:
    result: Any  # ExpectationSuiteValidationResult
    docs_page: Path | None = None  # the run's Data Docs page (HTML), when docs were built
    docs_error: str | None = None


def validate(df: Any, suite: Any, *, context: Any, run_name: str, build_docs: bool, samples: bool = True) -> Validation:
    """Validate ``df`` against ``suite`` (added to ``context``); build Data Docs for this run. Without
    ``samples`` GX keeps no unexpected values at all (not in the result, not in Data Docs)."""
    gx = import_gx()
    result_format = RESULT_FORMAT if samples else {**RESULT_FORMAT, "partial_unexpected_count": 0}

    batch = context.data_sources.add_pandas("aiinfra").add_dataframe_asset(suite.name)
    definition = batch.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(suite)
    vd = context.validation_definitions.add(gx.ValidationDefinition(name=suite.name, data=definition, suite=suite))
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])] if build_docs else []
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name=suite.name, validation_definitions=[vd], actions=actions, result_format=result_format)
    )
    try:
        run = checkpoint.run(batch_parameters={"dataframe": df}, run_id=gx.RunIdentifier(run_name=run_name))
        docs_error = None
    except Exception as exc:  # noqa: BLE001 - a docs failure must not hide the validation result
        if not build_docs:
            raise
        docs_error = f"{type(exc).__name__}: {exc}"
        return Validation(vd.run(batch_parameters={"dataframe": df}, result_format=result_format), None, docs_error)
    identifier, result = next(iter(run.run_results.items()))
    page = None
    if build_docs:
        urls = context.get_docs_sites_urls(resource_identifier=identifier, site_names=[SITE_NAME])
        if urls and urls[0].get("site_url", "").startswith("file://"):
            from urllib.parse import unquote

            page = Path(unquote(urls[0]["site_url"][len("file://"):]))
    return Validation(result, page, docs_error)


# --- the result, as plain data ---------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """JSON-safe copy (numpy scalars, timestamps, NaN → plain values)."""
    return json.loads(json.dumps(value, default=_default, allow_nan=True).replace("NaN", "null"))


def _default(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)


def summarize(result: Any) -> dict[str, Any]:
    """success, statistics and one entry per expectation; failed ones carry their observed value
    and a sample of unexpected values."""
    entries = []
    for r in result.results:
        cfg = r.expectation_config
        kwargs = {k: v for k, v in (cfg.kwargs or {}).items() if k != "batch_id"}
        res = r.result or {}
        entry: dict[str, Any] = {"expectation": cfg.type, "success": bool(r.success), "kwargs": kwargs}
        if "observed_value" in res:
            entry["observed_value"] = res["observed_value"]
        for key in ("element_count", "unexpected_count", "unexpected_percent", "missing_count"):
            if key in res:
                entry[key] = res[key]
        if not r.success and res.get("partial_unexpected_list") is not None:
            entry["unexpected_sample"] = res["partial_unexpected_list"][:SAMPLE]
        info = r.exception_info or {}
        if info.get("raised_exception"):
            entry["exception"] = (info.get("exception_message") or "").strip().splitlines()[:1]
            entry["exception"] = entry["exception"][0] if entry["exception"] else "raised an exception"
        entries.append(entry)
    stats = dict(result.statistics or {})
    return _plain({
        "success": bool(result.success),
        "statistics": stats,
        "expectations": entries,
        "failed": [e for e in entries if not e["success"]],
    })

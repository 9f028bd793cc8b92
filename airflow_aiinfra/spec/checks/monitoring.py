"""``batch_inference`` and ``drift``: the window, the reference, the features and the labels can all exist."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.locations import lexical_problem
from airflow_aiinfra.spec.checks.common import Issue, check_schedule
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.spec.suggest import Suggestions
from airflow_aiinfra.spec.types import shown


def known_features(spec: Spec) -> set[str]:
    """Columns a drift check may name: the scoring inputs and kept columns, and the feature store's features.
    Empty when the spec does not say (the model's signature decides at run time)."""
    names: set[str] = set()
    bi = spec.batch_inference
    if bi is not None:
        names.update(bi.features)
        names.update(bi.keep_columns)
    if spec.feature_store is not None:
        names.update(f.name for f in spec.feature_store.features)
    return names


def location_issues(spec: Spec, options: SpecOptions) -> Iterator[Issue]:
    """Inputs, outputs, references, labels and the request log are data locations (``airflow_aiinfra.locations``)."""
    paths: list[tuple[tuple[str | int, ...], str | None]] = []
    bi, dr, ex = spec.batch_inference, spec.drift, spec.experiment
    if bi is not None:
        paths += [(("batch_inference", "input", "path"), bi.input.path), (("batch_inference", "output_dir"), bi.output_dir)]
    if dr is not None:
        for field in ("reference", "current"):
            value = getattr(dr, field)
            if not isinstance(value, str):
                paths.append((("drift", field, "path"), value.path))
        paths.append((("drift", "request_log_dir"), dr.request_log_dir))
        if dr.decay is not None:
            paths.append((("drift", "decay", "labels", "path"), dr.decay.labels.path))
    if ex is not None:
        paths += [(("experiment", "datasets", kind, "path"), d.path) for kind, d in ex.datasets.items()]
    for where, value in paths:
        if value is not None and (problem := lexical_problem(value, options.data_roots)):
            yield where, problem


def issues(spec: Spec, options: SpecOptions) -> Iterator[Issue]:
    yield from location_issues(spec, options)
    bi = spec.batch_inference
    if bi is not None:
        yield from check_schedule(bi.schedule, ("batch_inference", "schedule"))
        for i, col in enumerate(bi.keep_columns):
            if col in bi.features:
                yield ("batch_inference", "keep_columns", i), f"{shown(col)} is a feature: it is in the output already"
    dr = spec.drift
    if dr is None:
        return
    base = ("drift",)
    yield from check_schedule(dr.schedule, (*base, "schedule"))
    if dr.current == "batch_inference" and bi is None:
        yield (*base, "current"), ("current 'batch_inference' needs a batch_inference section; add one, or read "
                                   "the window from a file (current: {path: ...}) or the request log")
    if dr.current == "offline_store":
        fs = spec.feature_store
        if fs is None or not any(src.path for src in fs.sources.values()):
            yield (*base, "current"), ("current 'offline_store' reads the feature store's file sources for the window, "
                                       "and this spec has none (feature_store.sources.<name>.path)")
    ex = spec.experiment
    champion = bi.registered_model if bi is not None else (ex.registered_model if ex else None)
    if champion is None:
        yield base, ("drift watches a registered model and there is none: set batch_inference.model or "
                     "experiment.registered_model")
    if dr.reference == "champion" and champion is not None:
        recorded = (ex is not None and "training" in ex.datasets) or (
            spec.feature_store is not None and spec.feature_store.training_set is not None)
        if not recorded:
            yield (*base, "reference"), ("reference 'champion' cannot exist: nothing records what a version was "
                                         "trained on; set experiment.datasets.training (or feature_store."
                                         "training_set), or give a file (reference: {path: ...})")
    known = known_features(spec)
    if known:
        hints = Suggestions(known)
        for i, f in enumerate(dr.features):
            if f.name not in known:
                hint = hints.hint(f.name) or f"; known: {', '.join(sorted(known)[:20])}"
                yield (*base, "features", i, "name"), f"unknown feature {shown(f.name)}{hint}"
    if dr.retrain_on and spec.training_pipeline is None:
        yield (*base, "retrain_on"), "retrain_on starts the training pipeline, and this spec has none"
    decay = dr.decay
    if decay is None:
        return
    if bi is None:
        yield (*base, "decay"), ("decay joins labels to batch_inference's predictions, and this spec has no "
                                 "batch_inference section: add one or drop decay")
    if dr.current == "batch_inference" and bi is not None:
        carried = set(bi.keep_columns)
        for i, key in enumerate(decay.labels.key):
            if key not in carried:
                yield (*base, "decay", "labels", "key", i), (
                    f"label key {shown(key)} is missing from the predictions: add it to batch_inference.keep_columns"
                    f" (now {sorted(carried) or 'empty'})")
    if not decay.floors and not (ex is not None and ex.metric_gates):
        yield (*base, "decay", "floors"), ("no floor to compare with: give decay.floors (e.g. [{metric: accuracy, "
                                           "op: '>=', threshold: 0.85}]) or experiment.metric_gates")

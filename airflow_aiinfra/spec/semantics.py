"""Every cross-field check of a validated spec, section by section (see ``spec/checks/``).

A section's checks (and the models they name) are imported only when the spec has that section, like the
section models themselves (spec/model/root.py).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator

from airflow_aiinfra.spec.checks.common import Issue, check_schedule
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.options import SpecOptions


def _section_issues(spec: Spec, options: SpecOptions) -> Iterator[Issue]:
    if spec.training_pipeline is not None:
        from airflow_aiinfra.spec.checks import training

        yield from training.issues(spec, options)
    if spec.data_quality is not None:
        from airflow_aiinfra.spec.checks import quality

        yield from quality.issues(spec, options)
    if spec.model_serving is not None:
        from airflow_aiinfra.spec.checks import serving

        yield from serving.issues(spec, options)
    if spec.feature_store is not None:
        from airflow_aiinfra.spec.checks import features

        yield from features.issues(spec, options)
    if spec.experiment is not None:
        from airflow_aiinfra.spec.checks import experiment

        yield from experiment.issues(spec, options)
    if spec.batch_inference is not None or spec.drift is not None:
        from airflow_aiinfra.spec.checks import monitoring

        yield from monitoring.issues(spec, options)


def semantic_issues(spec: Spec, options: SpecOptions) -> list[Issue]:
    found: list[Issue] = []
    found.extend(check_schedule(spec.schedule, ("schedule",)))
    try:
        zoneinfo.ZoneInfo(spec.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        found.append((("timezone",), f"unknown time zone {spec.timezone!r}; use an IANA name such as 'UTC'"))
    found.extend(_section_issues(spec, options))
    return found

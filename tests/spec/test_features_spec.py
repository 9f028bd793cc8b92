"""feature_store in a spec: the seed block verbatim, view grouping, and located errors with fixes."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.spec.load import load_spec_text
from tests.feast_support import SEED, inline_spec


def _load(text: str):
    return load_spec_text(text, "f.yaml")


def test_seed_block_loads_verbatim() -> None:
    fs = _load("name: recsys\n" + SEED).spec.feature_store
    assert fs is not None
    assert fs.entities[0].join_keys == ["user_id"] and fs.entities[0].description == "用户实体"
    feat = fs.features[0]
    assert (feat.dtype, feat.ttl, feat.online) == ("int64", timedelta(days=7), True)
    c = fs.consistency
    assert (c.check_interval, c.tolerance, c.alert_threshold) == (timedelta(hours=1), 0.001, 0.01)
    assert fs.view_groups() == []  # no source yet: declared, nothing to materialize


def test_seed_plus_a_source_becomes_one_feature_view() -> None:
    fs = _load(inline_spec()).spec.feature_store
    [view] = fs.view_groups()
    assert (view.name, view.entity, view.source, view.ttl, view.online, view.features) == (
        "user_clicks", "user", "clicks", timedelta(days=7), True, ("user_click_count",))


GROUPING = """\
name: g
feature_store:
  entities: [{name: user, join_keys: [user_id]}]
  sources: {clicks: {path: c.parquet}}
  features:
    - {name: a, entity: user, dtype: int64, ttl: 7d}
    - {name: b, entity: user, dtype: float32, ttl: 7d}
    - {name: c, entity: user, dtype: string, ttl: 1h}
    - {name: d, entity: user, dtype: bool, ttl: 1h, online: false}
    - {name: e, entity: user, dtype: bytes, ttl: 1d, view: user_profile}
"""


def test_features_sharing_entity_source_ttl_and_online_share_a_view() -> None:
    views = {v.name: v.features for v in _load(GROUPING).spec.feature_store.view_groups()}
    assert views == {"user_clicks_7d": ("a", "b"), "user_clicks_1h": ("c",), "user_clicks_1h_offline": ("d",),
                     "user_profile": ("e",)}


def _bad(extra: str) -> str:
    return inline_spec(extra=extra)


@pytest.mark.parametrize(("text", "match"), [
    pytest.param(("name: x\n" + SEED).replace('dtype: "int64"', 'dtype: "int"'),
                 r"features\[0\]\.dtype: 'int' is not a Feast type; did you mean 'int64'\?", id="dtype-alias"),
    pytest.param(("name: x\n" + SEED).replace('entity: "user"', 'entity: "usr"'),
                 r"features\[0\]\.entity: unknown entity 'usr'; did you mean 'user'\?", id="unknown-entity"),
    pytest.param(("name: x\n" + SEED).replace('ttl: "7d"', 'ttl: "7 days"'),
                 r"features\[0\]\.ttl: '7 days' is not a duration", id="bad-ttl"),
    pytest.param(("name: x\n" + SEED).replace("- tolerance: 0.001", "- tolerance: 0.05"),
                 r"alert_threshold \(0\.01\) must be >= tolerance \(0\.05\)", id="threshold-order"),
    pytest.param(_bad("  repo_path: feature_repo\n"), "either repo_path or inline", id="repo-and-inline"),
    pytest.param(_bad("  materialize: {schedule: '@once'}\n"), "'@once' has no data intervals", id="once"),
    pytest.param(_bad("  materialize: {schedule: '@hourlyy'}\n"), "did you mean '@hourly'", id="bad-cron"),
    pytest.param(inline_spec(source="'data/{{ ds }}.parquet'"), "cannot use templates", id="templated-source"),
    pytest.param(inline_spec().replace("{path: data/clicks.parquet}", "{query: 'select 1', conn_id: pg}"),
                 "needs offline_store: {type: postgres", id="query-needs-postgres"),
    pytest.param(_bad("  online_store: {type: redis}\n"), "redis online store needs 'conn_id'", id="redis-no-conn"),
    pytest.param(_bad("  training_set: {entity_window: 1d, output_path: o.parquet, features: ['user_clicks:clicks']}\n"),
                 r"unknown feature 'user_clicks:clicks'; did you mean 'user_clicks:user_click_count'\?",
                 id="training-feature"),
    pytest.param(_bad("  training_set: {output_path: o.parquet}\n"), "exactly one of 'entity_source'",
                 id="training-no-entities"),
    pytest.param("name: x\nfeature_store:\n  feature_views: [v]\n", "feature_views selects from an existing Feast repo",
                 id="views-without-repo"),
])
def test_bad_feature_store_is_located_and_says_the_fix(text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match) as err:
        _load(text)
    assert all(i.line > 1 for i in err.value.issues), err.value


def test_parsing_a_feature_spec_imports_no_heavy_library() -> None:
    code = (
        "import sys; from airflow_aiinfra.spec.load import load_spec_text; from tests.feast_support import inline_spec;"
        "load_spec_text(inline_spec(extra='  training_set: {entity_window: 1d, output_path: o.parquet}\\n'));"
        "print(sorted(m for m in ('feast', 'pandas', 'mlflow', 'great_expectations') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_entity_source_queries_bind_their_params_like_gates() -> None:
    from airflow_aiinfra.spec.load import load_spec_text

    text = ("name: ents\nfeature_store:\n  entities: [{name: user, join_keys: [user_id]}]\n"
            "  features:\n    - {name: clicks, entity: user, dtype: int64}\n"
            "  sources:\n    clicks: {path: data/clicks.parquet}\n  training_set:\n"
            "    entity_source: {query: \"SELECT * FROM labels WHERE day = :day AND x = '{{ ds }}'\", conn_id: pg, "
            "params: {dy: \"{{ ds }}\"}}\n    output_path: data/ts.parquet\n")
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "ents.yaml")
    lines = [str(i) for i in exc.value.issues]
    assert any("training_set.entity_source.query: the SQL text is not templated" in s for s in lines), lines
    assert any("training_set.entity_source.query: placeholder ':day' has no value" in s for s in lines), lines
    assert any("training_set.entity_source.params.dy: param 'dy' is not used" in s for s in lines), lines

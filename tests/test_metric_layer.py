"""The metric layer (issue 16): every metric defined once in dbt_project.yml's `vars.metrics`.

- The definitions are checked the same way by Python (feedpulse.metrics) and by dbt
  (macros/metrics.sql): the same broken entries are refused by both, naming the metric.
- The worked example of docs/metrics.md, done on a temporary copy of the project: one YAML entry
  ("posts viewed per user") and its dbt test, then the metric is in the daily table (metrics_daily,
  equal to an independent count over the raw events), in the feed report, on the dashboard and —
  being realtime — in metrics_15min, where alerts.yaml can name it.

Dates are fixed; dbt runs against the session's local endpoint.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import feedpulse.metrics as metric_layer
from feedpulse.metrics import MetricDefinitionError, load, parse

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
SOURCE_DB = "metric_layer_sim"
FIRST_DAY = dt.date(2026, 9, 1)
DAY = FIRST_DAY + dt.timedelta(days=1)

EXAMPLE = """
    views_per_user:
      title: {en: Posts viewed per user, ru: Просмотров на пользователя}
      type: ratio
      numerator: views
      denominator: feed_users
      decimals: 2
      good: up
      realtime: true
      reports: [feed]
      dashboard: true
"""
EXAMPLE_TEST = """-- views_per_user is views over feed users in every slice (docs/metrics.md's worked example)
select m.event_date, m.dimension, m.dimension_value
from {{ ref('metrics_daily') }} as m
where m.metric = 'views_per_user' and {{ in_window('m.event_date') }}
  and m.value != if(m.denominator = 0, 0, m.numerator / m.denominator)
"""


def shipped() -> dict:
    return yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["vars"]["metrics"]


BROKEN = {
    "unknown type": ({"views_total": {"title": {"en": "x", "ru": "x"}, "type": "sum", "source": "feed"}}, "type"),
    "ratio of a missing metric": (
        {"per_user": {"title": {"en": "x", "ru": "x"}, "type": "ratio", "numerator": "views", "denominator": "nope"}},
        "'nope' is not a metric",
    ),
    "unknown slice": (
        {"shares": {"title": {"en": "x", "ru": "x"}, "type": "count", "source": "feed", "slices": ["planet"]}},
        "planet",
    ),
    "realtime per-user metric": (
        {
            "active": {
                "title": {"en": "x", "ru": "x"},
                "type": "users",
                "where": "is_feed_user",
                "realtime": True,
            }
        },
        "no 15-minute form",
    ),
}


def test_the_shipped_definitions_load_and_name_the_reports():
    metrics = load()
    assert [m.name for m in metrics.in_report("feed")] == ["feed_users", "views", "likes", "ctr"]
    assert metrics["ctr"].type == "ratio" and metrics["ctr"].decimals == 4
    assert metrics.realtime_columns() == ["feed_users", "views", "likes", "messenger_users", "messages", "ctr"]
    assert metrics.source_of("messages_per_user") == "messages" and metrics.source_of("new_users") is None


def test_python_compiles_the_same_15_minute_aggregates_and_age_buckets(tmp_path):
    """The raw-event readers' SQL (the evaluation harness, slices) comes from the same definitions and var
    age_buckets as the dbt macros (their equality on data: tests/test_metrics_15min.py)."""
    from feedpulse.metrics import age_bucket_sql

    assert load().bucket_aggregates("feed") == {
        "feed_users": "uniqExact(user_id)",
        "views": "countIf((action = 'view'))",
        "likes": "countIf((action = 'like'))",
    }
    assert load().bucket_aggregates("messages", user_key="user_id, toDate(time)") == {
        "messenger_users": "uniqExact(user_id, toDate(time))",
        "messages": "count()",
    }
    assert "age between 18 and 24, '18-24'" in age_bucket_sql("age") and "age >= 55, '55+'" in age_bucket_sql("age")
    project = tmp_path / "p"
    project.mkdir()
    for spec, expected in (("raw", "ifNull(toString(a), 'unknown')"), ("0-17, 18+", "a >= 18, '18+'")):
        (project / "dbt_project.yml").write_text(yaml.safe_dump({"vars": {"age_buckets": spec}}))
        assert expected in age_bucket_sql("a", project)
    (project / "dbt_project.yml").write_text(yaml.safe_dump({"vars": {"age_buckets": "0-17,adults"}}))
    with pytest.raises(MetricDefinitionError, match="'adults' is not a bucket"):
        age_bucket_sql("a", project)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_python_refuses_broken_definitions_naming_the_metric(case):
    extra, message = BROKEN[case]
    with pytest.raises(MetricDefinitionError) as error:
        parse({**shipped(), **extra})
    assert repr(next(iter(extra))) in str(error.value) and message in str(error.value)


@pytest.mark.integration
@pytest.mark.dbt
@pytest.mark.parametrize("case", ["ratio of a missing metric", "unknown slice", "realtime per-user metric"])
def test_dbt_refuses_the_same_definitions(dbt_cli, case):
    extra, message = BROKEN[case]
    result = dbt_cli(
        {"metrics": {**shipped(), **extra}}, "--select", "metrics_daily metrics_15min", command="compile", check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and message in output, output[-3000:]
    assert f"'{next(iter(extra))}'" in output


# --- the worked example on a temporary copy ---------------------------------------------------------


@pytest.fixture(scope="module")
def example_project(tmp_path_factory) -> Path:
    """A copy of the project with the worked example's entry and test added, as docs/metrics.md says."""
    copy = tmp_path_factory.mktemp("metric_layer") / "dbt_project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    project_yml = copy / "dbt_project.yml"
    text = project_yml.read_text()
    anchor = "  metrics:\n"
    assert text.count(anchor) == 1
    project_yml.write_text(text.replace(anchor, anchor + EXAMPLE.lstrip("\n"), 1))
    (copy / "tests" / "views_per_user_is_views_over_feed_users.sql").write_text(EXAMPLE_TEST)
    return copy


@pytest.fixture(scope="module")
def built(example_project, localhouse, ch_client, tmp_path_factory):
    from feedpulse.simulator import simulate

    ch_client.command("DROP DATABASE IF EXISTS analytics")
    ch_client.command("DROP DATABASE IF EXISTS test")
    simulate(ch_client, start=FIRST_DAY, days=2, scale=0.02, seed=31, database=SOURCE_DB)
    target = tmp_path_factory.mktemp("metric_layer_target")
    env = {
        **os.environ,
        "CLICKHOUSE_PORT": str(localhouse.port),
        "CLICKHOUSE_PASSWORD": localhouse.password,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("CLICKHOUSE_HOST", None)
    variables = {"start_date": FIRST_DAY.isoformat(), "end_date": (DAY + dt.timedelta(days=1)).isoformat()}
    variables["source_database"] = SOURCE_DB
    places = ["--project-dir", str(example_project), "--profiles-dir", str(example_project)]
    places += ["--target-path", str(target), "--log-path", str(target / "logs"), "--vars", json.dumps(variables)]
    dbt = str(Path(sys.executable).parent / "dbt")
    # the daily ETL with every test (the example's included), then the 15-minute model
    outputs = []
    for args in (["build", "--exclude", "metrics_15min"], ["run", "--select", "metrics_15min"]):
        result = subprocess.run([dbt, *args, *places], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        outputs.append(result.stdout)
    # the example's own test ran (and passed: the build succeeded)
    assert "PASS views_per_user_is_views_over_feed_users" in outputs[0], outputs[0][-3000:]
    yield ch_client
    ch_client.command("DROP DATABASE IF EXISTS analytics")
    ch_client.command("DROP DATABASE IF EXISTS test")


@pytest.fixture
def example_definitions(example_project, monkeypatch):
    """Python reads the copy's definitions (as it reads the project's own)."""
    monkeypatch.setattr(metric_layer, "DBT_PROJECT_DIR", example_project)
    metric_layer.definitions.cache_clear()
    yield metric_layer.definitions()
    metric_layer.definitions.cache_clear()


def independent_views_per_user(client, day: dt.date) -> tuple[int, int]:
    """Views and feed users of the day straight from the raw events (staging's validity rule written out)."""
    views, users = client.query(
        f"SELECT countIf(action = 'view'), uniqExact(user_id) FROM {SOURCE_DB}.feed_actions "
        "WHERE toDate(time) = {d:Date} AND user_id != 0 AND action IN ('view', 'like') "
        "AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120",
        parameters={"d": day},
    ).result_rows[0]
    return int(views), int(users)


@pytest.mark.integration
@pytest.mark.dbt
def test_one_entry_puts_the_metric_in_the_daily_table_report_dashboard_and_alerts(built, example_definitions):
    from feedpulse.alerts import metrics_table
    from feedpulse.alerts.config import parse_config
    from feedpulse.reports import dashboard
    from feedpulse.reports.builders import feed_report
    from feedpulse.reports.data import load_feed_series

    client = built
    views, users = independent_views_per_user(client, DAY)
    assert views > 0 and users > 0

    # the daily table: in total and by every slice, equal to the raw events' views / feed users
    rows = client.query(
        "SELECT dimension, count(), anyIf(value, dimension = 'total') FROM analytics.metrics_daily "
        "WHERE metric = 'views_per_user' AND event_date = {d:Date} GROUP BY dimension",
        parameters={"d": DAY},
    ).result_rows
    by_dimension = {row[0]: row for row in rows}
    assert set(by_dimension) == {"total", *metric_layer.DIMENSIONS}
    assert by_dimension["total"][2] == pytest.approx(views / users)

    # the feed report: a line with the definition's title and two decimals, in the report's numbers
    content = feed_report(load_feed_series(client, DAY), lang="en")
    assert content.numbers["views_per_user"] == pytest.approx(views / users)
    line = next(line for line in content.html.splitlines() if line.startswith("Posts viewed per user:"))
    assert f"<b>{views / users:.2f}</b>" in line

    # the dashboard: a chart with the definition's title
    data = dashboard.load(client, now=dt.datetime.combine(DAY, dt.time(12)))
    assert data.metrics is not None and "views_per_user" in data.metrics.columns
    titles = [a.text for a in dict(dashboard.figures(data))["metrics"].layout.annotations]
    assert "Posts viewed per user" in titles

    # alerts: a column of metrics_15min whose buckets are views / feed users, and a valid alerts.yaml entry
    frame = metrics_table.load(
        client,
        start=dt.datetime.combine(DAY, dt.time()),
        end=dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time()),
        slices=(),
    )
    total = frame.xs("total", level="slice")
    busy = total[total["feed_users"] > 0]
    assert len(busy) > 0
    assert (busy["views_per_user"] - busy["views"] / busy["feed_users"]).abs().max() < 1e-9
    assert busy["views"].sum() == views
    config = parse_config({"metrics": {"views_per_user": {"min_expected": 20}}})
    judged = config.metrics["views_per_user"]
    assert judged.kind == "ratio" and judged.volume_metric == "feed_users"

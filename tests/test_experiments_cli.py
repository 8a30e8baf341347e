"""``feedpulse experiment aa|ab`` (the typer sub-app) on small generated CSVs: JSON shapes and input errors."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from feedpulse.experiments import report
from feedpulse.experiments.cli import app

AB_TEST_KEYS = (
    "welch_t",
    "mannwhitney",
    "smoothed_ctr_t",
    "bucket_t",
    "bucket_mannwhitney",
    "linearized_likes_t",
    "views_t",
)
AB_KEYS = {*AB_TEST_KEYS, "poisson_bootstrap", "srm_pvalue", "ctr_control", "ctr_treatment", "verdict"}
AA_KEYS = {"fpr", "fpr_ci", "uniformity_pvalue", "sims", "verdict"}

runner = CliRunner()


def users_frame(n: int = 800, groups: tuple[int, ...] = (0, 1, 2, 3), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for group in groups:
        views = rng.geometric(1 / 15, n)
        likes = rng.binomial(views, rng.beta(2, 8, n) * (1.2 if group == 1 else 1.0))
        frames.append(
            pd.DataFrame(
                {
                    "exp_group": group,
                    "user_id": np.arange(group * n, (group + 1) * n) + 1,
                    "likes": likes,
                    "views": views,
                    "os": "Android",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("experiment") / "users.csv"
    users_frame().to_csv(path, index=False)
    return path


def test_ab_json_has_the_documented_keys(csv_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "ab",
            "--csv",
            str(csv_file),
            "--control",
            "0",
            "--treatment",
            "1",
            "--seed",
            "1",
            "--bootstrap",
            "300",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= AB_KEYS
    for key in AB_TEST_KEYS:
        assert set(data[key]) == {"statistic", "pvalue"} and isinstance(data[key]["pvalue"], float)
    boot = data["poisson_bootstrap"]
    assert {"control_ci", "treatment_ci", "diff_ci"} <= set(boot)
    assert all(len(boot[key]) == 2 for key in ("control_ci", "treatment_ci", "diff_ci"))
    assert {"recommendation", "polarization", "agreeing_tests", "text"} <= set(data["verdict"])
    assert data["verdict"]["recommendation"] in ("roll out", "do not roll out", "inconclusive")
    assert isinstance(data["srm_pvalue"], float) and 0 < data["ctr_control"] < data["ctr_treatment"]
    again = runner.invoke(app, ["ab", "--csv", str(csv_file), "--seed", "1", "--bootstrap", "300", "--json"])
    assert json.loads(again.stdout)["poisson_bootstrap"] == boot


def test_aa_json_has_the_documented_keys(csv_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "aa",
            "--csv",
            str(csv_file),
            "--groups",
            "2,3",
            "--sims",
            "300",
            "--sample-size",
            "100",
            "--seed",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= AA_KEYS
    assert data["sims"] == 300 and len(data["fpr_ci"]) == 2 and 0 <= data["fpr"] <= 1
    assert isinstance(data["verdict"]["works"], bool) and data["verdict"]["text"]


def test_human_output_and_saved_reports(csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "render_pngs", lambda figures: {name: b"png" for name in figures})
    monkeypatch.setenv("FEEDPULSE_LANGUAGE", "en")  # the one default language, for every text (feedpulse.i18n)
    result = runner.invoke(
        app,
        [
            "ab",
            "--csv",
            str(csv_file),
            "--seed",
            "1",
            "--bootstrap",
            "200",
            "--png-dir",
            str(tmp_path / "png"),
            "--markdown",
            str(tmp_path / "ab.md"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Recommendation" in result.stdout and "Welch" in result.stdout
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["ab_bootstrap_diff.png", "ab_ctr_hist.png"]
    assert (tmp_path / "ab.md").read_text(encoding="utf-8").startswith("# A/B test")
    russian = runner.invoke(
        app, ["aa", "--csv", str(csv_file), "--sims", "200", "--sample-size", "100", "--lang", "ru"]
    )
    assert russian.exit_code == 0 and "A/A" in russian.stdout and "Вывод" in russian.stdout


@pytest.mark.parametrize(
    ("frame_change", "message"),
    [
        (lambda df: df.drop(columns=["views"]), "missing column(s): views"),
        (lambda df: df.assign(likes=-df.likes), "negative values in column(s) likes"),
        (lambda df: df.assign(views=df.views.astype(str).where(df.index > 3, "lots")), "non-numeric"),
    ],
)
def test_bad_csv_exits_2_naming_the_problem(tmp_path: Path, frame_change, message: str) -> None:
    path = tmp_path / "bad.csv"
    frame_change(users_frame(50)).to_csv(path, index=False)
    result = runner.invoke(app, ["ab", "--csv", str(path)])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("command", ["aa", "ab"])
@pytest.mark.parametrize(
    ("frame_change", "message"),
    [
        # issue 12: likes = 3 × views gave CTR 3.0 and "roll out"
        (
            lambda df: df.assign(likes=df.likes.where(df.index != 6, df.views * 3 + 1)),
            "likes > views in 1 row(s): row 7",
        ),
        # issue 12: views of 1e30 were reported as "negative values" (int64 overflow)
        (lambda df: df.assign(views=df.views.astype(float).where(df.index != 2, 1e30)), "out of range (row 3)"),
        (lambda df: df.assign(views=df.views.astype(float).where(df.index % 10 != 4, 2.5)), "not a whole number"),
    ],
)
def test_impossible_rows_are_rejected_with_row_numbers_and_no_verdict(
    tmp_path: Path, frame_change, message: str, command: str
) -> None:
    path = tmp_path / "bad.csv"
    frame_change(users_frame(50)).to_csv(path, index=False)
    args = [command, "--csv", str(path), "--json"] + (["--groups", "0,1"] if command == "aa" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and str(path) in result.output
    assert result.stdout.strip() == ""  # no JSON, no verdict
    assert "roll out" not in result.output and "works" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ab", "--csv", "/no/such/file.csv"], "file not found"),
        (["ab"], "no input"),
        (["ab", "--from-db"], "--from-db needs --start and --end"),
        (["aa", "--groups", "2"], "two different groups"),
        (["aa", "--groups", "a,b"], "comma-separated integers"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_group_exits_2(csv_file: Path) -> None:
    result = runner.invoke(app, ["ab", "--csv", str(csv_file), "--treatment", "7"])
    assert result.exit_code == 2 and "exp_group 7 has no users" in result.output


def test_from_db_uses_the_clickhouse_client(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class Client:
        def query_df(self, sql: str, parameters: dict) -> pd.DataFrame:
            calls.append(parameters)
            return users_frame(300, groups=(0, 1))[["exp_group", "user_id", "likes", "views"]]

        def query(self, sql: str, parameters: dict):  # the days of user_daily: all of the window
            return SimpleNamespace(
                result_rows=[(d,) for d in pd.date_range(parameters["start"], parameters["end"]).date]
            )

    monkeypatch.setattr("feedpulse.clickhouse.get_client", lambda *a, **k: Client())
    result = runner.invoke(
        app, ["ab", "--from-db", "--start", "2026-11-09", "--end", "2026-11-15", "--bootstrap", "100", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert calls[0]["groups"] == [0, 1] and str(calls[0]["start"]) == "2026-11-09"
    assert set(json.loads(result.stdout)) >= AB_KEYS


def test_texts_default_to_russian_and_a_bad_language_is_named(csv_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEEDPULSE_LANGUAGE", raising=False)
    result = runner.invoke(app, ["aa", "--csv", str(csv_file), "--sims", "200", "--sample-size", "100"])
    assert result.exit_code == 0, result.output
    assert "A/A" in result.stdout and "Вывод" in result.stdout and "Verdict" not in result.stdout
    bad = runner.invoke(app, ["aa", "--csv", str(csv_file), "--sims", "200", "--lang", "de"])
    assert bad.exit_code != 0 and "--lang" in bad.output and "'de'" in bad.output

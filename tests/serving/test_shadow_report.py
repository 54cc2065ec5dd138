"""Shadow report: the decision follows config/shadow.yaml, and the outputs are safe and complete.

Pair logs are synthetic and seeded. Champion scores sit in [0.1, 0.3] or [0.7, 0.9] and the
challenger adds noise of sd 0.005, so the baseline never flips a label; each case below then
breaks exactly one property, on exactly the rows it names.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.config import load_model
from mlops.errors import ConfigError, DatasetError
from mlops.report_html import base_css
from mlops_cli.config_files import CONFIG_FILES, validate_config_dir
from serving.config import ShadowPolicyConfig
from serving.shadow.analysis import ShadowReport, analyse
from serving.shadow.html import render_html
from serving.shadow.report import report_from_store, write_report

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_model(ROOT / "config" / "shadow.yaml", ShadowPolicyConfig)
SEXES = np.array(["female", "male"])
AGES = np.array(["18-25", "26-35", "36-50", "51+"])
N = 1000  # 125 rows in each of the 8 (sex, age_band) combinations


def make_pairs(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    champ = np.where(rng.random(n) < 0.5, rng.uniform(0.1, 0.3, n), rng.uniform(0.7, 0.9, n))
    chall = champ + rng.normal(0, 0.005, n)
    champ_lat = rng.lognormal(np.log(5.0), 0.3, n)
    return pd.DataFrame(
        {
            "request_id": [f"r{k}" for k in i],
            "ts": 1_700_000_000.0 + i,
            "entity_id": [f"e{k}" for k in i],
            # Balanced and deterministic: row i is combination i % 8, its (i // 8)-th row.
            "segment": [{"sex": SEXES[k % 2], "age_band": AGES[(k // 2) % 4]} for k in i],
            "champion_version": "1.0.0",
            "challenger_version": "1.1.0",
            "champion_score": champ,
            "challenger_score": pd.Series(chall, dtype=object),
            "champion_latency_ms": champ_lat,
            "challenger_latency_ms": champ_lat * rng.uniform(0.9, 1.1, n),
            "challenger_error": pd.Series([None] * n, dtype=object),
        }
    )


def share_of_each_segment(frame: pd.DataFrame, frac: float) -> np.ndarray:
    """The first ``frac`` of the rows of every (sex, age_band) combination."""
    i = np.arange(len(frame))
    return (i // 8) < round(frac * len(frame) / 8)


def flip_labels(frame: pd.DataFrame, rows: np.ndarray) -> None:
    # Straddle the 0.5 threshold with a small delta (0.06): only agreement is affected.
    frame.loc[rows, "champion_score"] = 0.47
    frame.loc[rows, "challenger_score"] = 0.53


def shift_toward_threshold(frame: pd.DataFrame, rows: np.ndarray, by: float) -> None:
    champ = frame["champion_score"].to_numpy(dtype=float)
    moved = champ + np.where(champ < 0.5, by, -by)
    frame.loc[rows, "challenger_score"] = moved[rows]


def with_errors(frame: pd.DataFrame) -> None:
    i = np.arange(len(frame))
    timeouts, refused = i % 40 == 0, i % 40 == 1  # 2.5 % each
    # The messages the mirror logs (serving.shadow.mirror).
    frame.loc[timeouts, "challenger_error"] = "timeout after 0.2s"
    frame.loc[refused, "challenger_error"] = "ConnectionRefusedError: [Errno 111] Connection refused"
    frame.loc[timeouts | refused, "challenger_score"] = None
    frame.loc[timeouts | refused, "challenger_latency_ms"] = None


def breach_agreement(f: pd.DataFrame) -> None:
    flip_labels(f, share_of_each_segment(f, 0.08))


def breach_mean_delta(f: pd.DataFrame) -> None:
    shift_toward_threshold(f, np.ones(len(f), dtype=bool), 0.08)


def breach_p95_delta(f: pd.DataFrame) -> None:
    shift_toward_threshold(f, share_of_each_segment(f, 0.08), 0.18)


def breach_segment_gap(f: pd.DataFrame) -> None:
    # 8 % of women disagree, no man does: overall agreement 96 % passes, the gap of 8 % does not.
    female = np.arange(len(f)) % 2 == 0
    flip_labels(f, share_of_each_segment(f, 0.08) & female)


def breach_latency(f: pd.DataFrame) -> None:
    f["challenger_latency_ms"] = f["champion_latency_ms"] * 2.0


@pytest.mark.parametrize(
    ("breach", "check"),
    [
        (with_errors, "challenger_error_rate"),
        (breach_agreement, "agreement_rate"),
        (breach_mean_delta, "mean_abs_delta"),
        (breach_p95_delta, "p95_abs_delta"),
        (breach_segment_gap, "segment_agreement_gap[sex]"),
        (breach_latency, "p99_latency_ratio"),
    ],
)
def test_each_breached_threshold_rejects(breach: Any, check: str) -> None:
    frame = make_pairs()
    breach(frame)
    report = analyse(frame, POLICY)
    assert report.decision == "reject"
    assert [c.name for c in report.checks if not c.passed] == [check]
    # The breached check is the first reason, with its value and threshold.
    assert report.reasons[0].startswith(f"{check}: ")
    assert "breached" in report.reasons[0]


def test_clean_shadow_promotes_with_every_check_listed() -> None:
    report = analyse(make_pairs(), POLICY)
    assert report.decision == "promote"
    assert all(c.passed for c in report.checks)
    names = {c.name.split("[")[0] for c in report.checks}
    assert names == {
        "pairs",
        "challenger_error_rate",
        "agreement_rate",
        "mean_abs_delta",
        "p95_abs_delta",
        "segment_agreement_gap",
        "p99_latency_ratio",
    }
    assert len(report.reasons) == len(report.checks)
    assert report.agreement_rate == 1.0
    assert report.compared == report.pairs == N
    assert report.error_rate == 0.0


def test_too_few_pairs_keeps_shadowing_even_when_checks_fail() -> None:
    frame = make_pairs(n=400)
    assert analyse(frame, POLICY).decision == "keep_shadowing"
    breach_latency(frame)
    report = analyse(frame, POLICY)
    assert report.decision == "keep_shadowing"
    assert report.reasons[0].startswith("pairs: 400 < 500")
    assert not next(c for c in report.checks if c.name == "p99_latency_ratio").passed


def test_thresholds_pass_at_equality() -> None:
    policy = POLICY.model_copy(update={"min_pairs": N})
    assert analyse(make_pairs(), policy).decision == "promote"
    policy = POLICY.model_copy(update={"min_pairs": N + 1})
    assert analyse(make_pairs(), policy).decision == "keep_shadowing"


def test_segment_gap_names_the_diverging_segment() -> None:
    frame = make_pairs()
    breach_segment_gap(frame)
    report = analyse(frame, POLICY)
    by_segment = {(s.attribute, s.value): s for s in report.segments}
    assert set(by_segment) == {("sex", "female"), ("sex", "male")} | {("age_band", a) for a in AGES}
    assert by_segment["sex", "female"].agreement_rate == pytest.approx(0.92)
    assert by_segment["sex", "male"].agreement_rate == 1.0
    assert by_segment["sex", "female"].compared == N // 2
    assert report.segment_gaps["sex"] == pytest.approx(0.08)
    # Age bands mix both sexes evenly: they disagree equally, so their gap is ~0.
    assert report.segment_gaps["age_band"] == pytest.approx(0.0)
    assert by_segment["sex", "female"].mean_delta > by_segment["sex", "male"].mean_delta


def test_small_segments_are_reported_but_do_not_decide() -> None:
    frame = make_pairs()
    # A segment of 10 rows that always disagrees: a 100 % gap, but too small to count.
    rows = np.arange(10)
    frame.loc[rows, "segment"] = pd.Series([{"region": "tiny"}] * 10, index=rows)
    frame.loc[10:, "segment"] = pd.Series([{"region": "big"}] * (N - 10), index=range(10, N))
    flip_labels(frame, np.isin(np.arange(N), rows))
    report = analyse(frame, POLICY)
    tiny = next(s for s in report.segments if s.value == "tiny")
    assert tiny.agreement_rate == 0.0
    assert not tiny.counted
    assert report.segment_gaps["region"] is None
    gap = next(c for c in report.checks if c.name.startswith("segment_agreement_gap"))
    assert gap.skipped
    assert report.decision == "promote"


def test_challenger_errors_are_counted_and_broken_down() -> None:
    frame = make_pairs()
    with_errors(frame)
    # A challenger that answered without a score also failed, without an error message.
    frame.loc[2, "challenger_score"] = None
    report = analyse(frame, POLICY)
    assert report.errors_by_kind == {"ConnectionRefusedError": 25, "timeout": 25, "no_score": 1}
    assert report.timeouts == 25
    assert report.challenger_errors == 51
    assert report.compared == N - 51
    assert report.error_rate == pytest.approx(51 / N)
    assert report.delta is not None
    assert sum(report.delta.histogram_counts) == report.compared


def test_delta_distribution() -> None:
    frame = make_pairs()
    shift_toward_threshold(frame, np.ones(N, dtype=bool), 0.04)
    report = analyse(frame, POLICY)
    d = report.delta
    assert d is not None
    assert d.mean_abs == pytest.approx(0.04)
    assert d.p50_abs == d.p95_abs == d.p99_abs == d.max_abs == pytest.approx(0.04)
    # Half the rows move up, half down: the signed mean is near zero, the histogram has two spikes.
    assert abs(d.mean) < 0.01
    assert len(d.histogram_edges) == POLICY.histogram_bins + 1
    assert d.histogram_counts[0] + d.histogram_counts[-1] == N


def test_only_the_latest_versions_are_analysed_unless_named() -> None:
    old = make_pairs(seed=1)
    old["challenger_version"] = "1.0.5"
    breach_latency(old)
    new = make_pairs(seed=2)
    new["ts"] += 10_000
    pairs = pd.concat([old, new], ignore_index=True)
    latest = analyse(pairs, POLICY)
    assert (latest.challenger_version, latest.pairs, latest.excluded_pairs) == ("1.1.0", N, N)
    assert latest.decision == "promote"
    older = analyse(pairs, POLICY, challenger_version="1.0.5")
    assert older.challenger_version == "1.0.5"
    assert older.decision == "reject"


def test_empty_log_keeps_shadowing() -> None:
    report = analyse(make_pairs().iloc[0:0], POLICY)
    assert report.decision == "keep_shadowing"
    assert report.pairs == 0
    assert report.delta is None
    assert report.error_rate is None
    render_html(report)
    json.dumps(report.to_dict(), allow_nan=False)


def test_missing_column_is_named() -> None:
    with pytest.raises(DatasetError, match="challenger_latency_ms"):
        analyse(make_pairs().drop(columns=["challenger_latency_ms"]), POLICY)


def test_html_escapes_segment_values_and_versions() -> None:
    hostile = "<script>alert('x')</script>"
    frame = make_pairs()
    frame["segment"] = pd.Series([{"sex": hostile if k % 2 else "female"} for k in range(N)], dtype=object)
    frame["challenger_version"] = '1.1.0"><img src=x>'
    report = analyse(frame, POLICY)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&lt;img src=x&gt;" in page


def test_html_loads_nothing_from_outside() -> None:
    page = render_html(analyse(make_pairs(), POLICY))
    for external in ("<script", "<link", "src=", "href=", "http://", "https://", "@import", "url("):
        assert external not in page
    assert "<svg" in page
    assert "<style>" in page
    assert base_css().strip() in page  # the platform's report base, then the report's own rules


def test_json_round_trips(tmp_path: Path) -> None:
    frame = make_pairs()
    with_errors(frame)
    breach_segment_gap(frame)
    report = analyse(frame, POLICY)
    paths = write_report(report, tmp_path / "out")
    assert set(paths) == {"json", "html"}
    assert paths["json"].name == "shadow_report.json"
    assert paths["html"].read_text().startswith("<!DOCTYPE html>")
    loaded = json.loads(paths["json"].read_text())
    assert loaded == report.to_dict()
    assert loaded["decision"] == "reject"
    assert loaded["policy"]["min_pairs"] == POLICY.min_pairs
    assert ShadowReport.from_dict(loaded) == report


def test_segments_stored_as_json_text_are_read() -> None:
    frame = make_pairs()
    frame["segment"] = [json.dumps(s) for s in frame["segment"]]
    report = analyse(frame, POLICY)
    assert set(report.segment_gaps) == {"sex", "age_band"}


def test_report_from_store_reads_the_comparison_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opened: list[Path] = []
    frame = make_pairs()

    class FakeStore:
        def __init__(self, path: Path) -> None:
            opened.append(path)

        def read(self, since: float | None = None) -> pd.DataFrame:
            return frame if since is None else frame[frame["ts"] >= since]

    monkeypatch.setattr("serving.shadow.report.ComparisonStore", FakeStore)
    store = tmp_path / "pairs.sqlite"
    store.touch()
    report = report_from_store(store, POLICY)
    assert opened == [store]
    assert report.decision == "promote"
    recent = report_from_store(store, POLICY, since=float(frame["ts"].iloc[-100]))
    assert (recent.pairs, recent.decision) == (100, "keep_shadowing")


def test_report_from_a_real_comparison_store(tmp_path: Path) -> None:
    from serving.shadow.store import ComparisonStore, ShadowPair

    frame = make_pairs()
    with_errors(frame)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    ComparisonStore(tmp_path / "pairs.sqlite").append([ShadowPair(**r) for r in records])  # type: ignore[arg-type]
    from_store = report_from_store(tmp_path / "pairs.sqlite", POLICY)
    direct = analyse(frame, POLICY)
    assert from_store.to_dict() | {"generated_at": ""} == direct.to_dict() | {"generated_at": ""}
    assert from_store.decision == "reject"


def test_missing_store_is_an_error_not_an_empty_report(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no comparison store"):
        report_from_store(tmp_path / "nope.sqlite", POLICY)
    assert not (tmp_path / "nope.sqlite").exists()


def test_shipped_policy_validates_and_is_registered() -> None:
    assert CONFIG_FILES["shadow.yaml"] is ShadowPolicyConfig
    assert "shadow.yaml" in validate_config_dir(ROOT / "config")
    assert POLICY.min_pairs == 500
    assert POLICY.min_agreement_rate == 0.95


def test_bad_policy_key_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "shadow.yaml"
    bad.write_text((ROOT / "config" / "shadow.yaml").read_text() + "max_p95_delta: 0.2\n")
    with pytest.raises(ConfigError) as exc:
        load_model(bad, ShadowPolicyConfig)
    assert exc.value.file.endswith("shadow.yaml")
    assert exc.value.key == "max_p95_delta"
    assert "no such key" in exc.value.expected


def test_bad_policy_value_names_key(tmp_path: Path) -> None:
    bad = tmp_path / "shadow.yaml"
    bad.write_text("min_agreement_rate: 95\n")
    with pytest.raises(ConfigError) as exc:
        load_model(bad, ShadowPolicyConfig)
    assert exc.value.key == "min_agreement_rate"

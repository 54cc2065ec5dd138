"""Benchmark PII discovery: quality on the labelled corpus and scan time on a 50k-row dataset.

    python -m performance.benchmarks.privacy_scan --out bench-results/privacy_scan.json [--rows 50000]

- ``corpus``: per entity type precision, recall and F2 on ``tests/privacy/corpus/labelled_values.csv``
  (values labelled with the column they sit in; hard negatives included), plus PERSON in free
  text on its own (names inside notes, half of them outside the gazetteer);
- ``scan``: ``scan_dataset_frame`` on the bundled synthetic sample (``--rows`` rows, its
  config's declared PII) with four more PII columns (cards, IBANs, birth dates, IPs) left
  undeclared; the analyzer is built before timing (``engine_s`` says what that costs once).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

from performance.benchmarks.report import REPO, SAMPLE_DATASET, write_report

CORPUS = REPO / "tests" / "privacy" / "corpus" / "labelled_values.csv"


def corpus_table() -> dict[str, Any]:
    from privacy.config import DiscoveryConfig
    from privacy.discovery.evaluation import predict, read_corpus, score

    items = read_corpus(CORPUS)
    started = time.perf_counter()
    predicted = predict(items, DiscoveryConfig())
    seconds = time.perf_counter() - started
    rows = [s.row() for s in score(items, predicted)]
    notes = [(i, p) for i, p in zip(items, predicted, strict=True) if i.column == "notes"]
    (free_text,) = score([i for i, _ in notes], [p for _, p in notes], ["PERSON"])
    return {
        "columns": column_table(items),
        "values": len(items),
        "hard_negatives": sum(not i.entities for i in items),
        "seconds": round(seconds, 2),
        "per_type": rows,
        "person_in_free_text": free_text.row(),
    }


def column_table(items: list[Any]) -> list[dict[str, Any]]:
    """Each corpus column scanned as a column: the entities labelled in at least the threshold's
    share of its values (what should be flagged) against what the scan flags."""
    import pandas as pd

    from privacy.config import DiscoveryConfig
    from privacy.discovery.scan import scan_column

    config = DiscoveryConfig()
    by_column: dict[str, list[Any]] = {}
    for item in items:
        by_column.setdefault(item.column, []).append(item)
    out = []
    for column, rows in by_column.items():
        finding = scan_column(pd.Series([r.value for r in rows], name=column), config)
        threshold = config.free_text_min_share if finding is not None and finding.free_text else config.min_share
        labelled = {e for r in rows for e in r.entities}
        expected = sorted(e for e in labelled if sum(e in r.entities for r in rows) / len(rows) >= threshold)
        flagged = sorted(finding.entities) if finding is not None else []
        out.append({"column": column, "values": len(rows), "expected": expected, "flagged": flagged})
    return out


def scan_timing(rows: int) -> dict[str, Any]:
    import numpy as np

    from mlops.config import load_dataset_config
    from privacy.config import DiscoveryConfig
    from privacy.discovery import scan_dataset_frame
    from privacy.discovery.recognizers import analyzer
    from training.sample_data import generate_credit_risk

    frame = generate_credit_risk(rows, 7)
    rng = np.random.default_rng(1)
    base = rng.integers(10**14, 10**15 - 1, size=rows)
    frame["card_on_file"] = [_luhn_complete("4" + str(b)) for b in base]
    frame["payout_iban"] = [_iban("DE", f"{b:015d}000") for b in base]
    frame["date_of_birth"] = (np.datetime64("1950-01-01") + rng.integers(0, 365 * 55, size=rows)).astype(
        "datetime64[ns]"
    )
    frame["last_login_ip"] = [f"10.{b % 256}.{(b // 256) % 256}.{(b // 65536) % 254 + 1}" for b in base]
    cfg = load_dataset_config(SAMPLE_DATASET)
    started = time.perf_counter()
    analyzer()
    engine_s = time.perf_counter() - started
    config = DiscoveryConfig()
    started = time.perf_counter()
    result = scan_dataset_frame(frame, cfg, config)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "columns": len(frame.columns),
        "sample_size": config.sample_size,
        "engine_s": round(engine_s, 2),
        "scan_s": round(seconds, 2),
        "flagged": {f.column: sorted(f.entities) for f in result.findings},
        "undeclared": [f.column for f in result.undeclared],
    }


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        number = body + d
        total = sum(
            (int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c)
            for i, c in enumerate(reversed(number))
        )
        if total % 10 == 0:
            return number
    raise AssertionError("unreachable")


def _iban(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=Path("bench-results/privacy_scan.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "privacy_scan",
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
    }
    # The scan first: its engine_s is then the analyzer's one-off build (Presidio's import included).
    report["scan"] = scan_timing(args.rows)
    report["corpus"] = corpus_table()
    write_report(args.out, report)
    print(f"wrote {args.out}")
    for row in report["corpus"]["per_type"]:
        print(
            f"  {row['entity']:<15} n={row['support']:<4} P={row['precision']:.3f} "
            f"R={row['recall']:.3f} F2={row['f2']:.3f}"
        )
    for col in report["corpus"]["columns"]:
        mark = "ok" if col["expected"] == col["flagged"] else "MISMATCH"
        print(f"  column {col['column']:<16} expected {col['expected']} flagged {col['flagged']} {mark}")
    scan = report["scan"]
    print(f"  scan of {scan['rows']} rows x {scan['columns']} columns: {scan['scan_s']} s")


if __name__ == "__main__":
    main()

"""PII discovery: the goals on the labelled corpus, the bundled sample, undeclared PII stopping
the validation step and the CLI, masking, offline operation and the config's edges."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from mlops.config import DatasetConfig, PiiColumn, load_dataset_config
from mlops.contracts import DataContract
from mlops.errors import ConfigError
from privacy.config import DiscoveryConfig, PrivacyConfig
from privacy.discovery import pii_gate, scan_dataset_frame, scan_frame
from privacy.discovery.evaluation import misses, predict, read_corpus, score
from privacy.discovery.hints import hinted_entities, load_hints
from privacy.discovery.recognizers import CHECKSUM_ENTITIES
from privacy.discovery.scan import mask
from tests.steps import DATASET, StepRun, recorded
from training.sample_data import generate_credit_risk

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "privacy" / "corpus"
SAMPLE_CONFIG = ROOT / "config" / "datasets" / "credit_risk.yaml"
CONFIG = DiscoveryConfig()


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return generate_credit_risk(600, 7)


def _with_undeclared(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["backup_contact"] = [f"person{i}@example.org" for i in range(len(out))]
    # Luhn-valid card numbers (synthetic), in a column whose name says nothing.
    out["ref"] = [str(4000_0000_0000_0000 + i * 97) for i in range(len(out))]
    out["ref"] = [v[:-1] + next(d for d in "0123456789" if _luhn(v[:-1] + d)) for v in out["ref"]]
    return out


def _luhn(number: str) -> bool:
    total = sum(
        (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d for i, d in enumerate(int(c) for c in reversed(number))
    )
    return total % 10 == 0


# --------------------------------------------------------------------------- corpus goals
def test_the_corpus_file_is_what_the_generator_writes() -> None:
    proc = subprocess.run(
        [sys.executable, str(CORPUS / "generate.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout


def test_the_corpus_meets_the_goals() -> None:
    items = read_corpus(CORPUS / "labelled_values.csv")
    assert len(items) >= 2000
    assert sum(not i.entities for i in items) >= 800  # hard negatives
    predicted = predict(items, CONFIG)
    table = {s.entity: s for s in score(items, predicted)}
    wrong = misses(items, predicted)
    for entity in CHECKSUM_ENTITIES:
        s = table[entity]
        assert s.support >= 100, entity
        why = (s.row(), [m for m in wrong if entity in m.values()])
        assert s.precision >= 0.99, why
        assert s.recall >= 0.95, why
    for entity, s in table.items():
        assert s.support > 0, entity
        assert s.f2 >= 0.85, s.row()


def test_order_numbers_failing_luhn_are_not_cards() -> None:
    items = [i for i in read_corpus(CORPUS / "labelled_values.csv") if i.column == "order_ref"]
    assert len(items) >= 200
    predicted = predict(items, CONFIG)
    assert not any("CREDIT_CARD" in p for p in predicted)


def test_a_column_of_random_order_numbers_is_not_flagged() -> None:
    """One random 16-digit number in ten passes Luhn: the share threshold keeps the column out."""
    rng = np.random.default_rng(3)
    numbers = [str(n) for n in rng.integers(4 * 10**15, 5 * 10**15, size=400)]
    assert 0.05 < np.mean([_luhn(n) for n in numbers]) < 0.2
    assert scan_frame(pd.DataFrame({"order_no": numbers}), CONFIG).findings == []
    assert scan_frame(pd.DataFrame({"order_no": numbers}), DiscoveryConfig(min_share=0.05)).flagged == ["order_no"]


# --------------------------------------------------------------------------- the sample
def test_the_sample_holds_exactly_its_declared_pii(sample: pd.DataFrame) -> None:
    cfg = load_dataset_config(SAMPLE_CONFIG)
    result = scan_dataset_frame(sample, cfg, CONFIG)
    assert sorted(result.flagged) == sorted(cfg.pii)
    assert result.undeclared == []
    assert result.declared_not_found == []
    by_column = {f.column: f for f in result.findings}
    assert set(by_column["email"].entities) == {"EMAIL_ADDRESS"}
    assert set(by_column["phone"].entities) == {"PHONE_NUMBER"}
    assert set(by_column["national_id"].entities) == {"US_SSN"}
    assert set(by_column["full_name"].entities) == {"PERSON"}
    assert by_column["note"].free_text
    assert "EMAIL_ADDRESS" in by_column["note"].entities
    assert pii_gate(sample, dataset=cfg, config=CONFIG) == {}


def test_undeclared_pii_is_named_with_a_pii_block_that_validates(sample: pd.DataFrame) -> None:
    cfg = load_dataset_config(SAMPLE_CONFIG)
    result = scan_dataset_frame(_with_undeclared(sample), cfg, CONFIG)
    assert {f.column: set(f.entities) for f in result.undeclared} == {
        "backup_contact": {"EMAIL_ADDRESS"},
        "ref": {"CREDIT_CARD"},
    }
    block = yaml.safe_load(result.suggested_pii_block())["pii"]
    policies = {c: TypeAdapter(PiiColumn).validate_python(p) for c, p in block.items()}
    assert {c: p.action for c, p in policies.items()} == {"backup_contact": "hash", "ref": "mask"}
    # The completed config is accepted, and the scan then passes.
    fixed = DatasetConfig.model_validate(cfg.model_dump() | {"pii": cfg.model_dump()["pii"] | block})
    assert scan_dataset_frame(_with_undeclared(sample), fixed, CONFIG).undeclared == []
    failures = pii_gate(_with_undeclared(sample), dataset=cfg, config=CONFIG)
    assert list(failures) == ["backup_contact", "ref"]
    assert "'backup_contact': EMAIL_ADDRESS (100%)" in failures["backup_contact"]
    assert "action: hash" in failures["backup_contact"]
    assert "'ref': CREDIT_CARD (100%)" in failures["ref"]
    assert pii_gate(_with_undeclared(sample), dataset=cfg, config=DiscoveryConfig(enabled=False)) == {}


def test_a_key_column_holding_pii_is_named_as_such() -> None:
    frame = pd.DataFrame({"customer": [f"user{i}@example.com" for i in range(50)], "y": [0, 1] * 25})
    cfg = DatasetConfig(name="keys", path=Path("x.csv"), target="y", entity_id="customer")
    (failure,) = pii_gate(frame, dataset=cfg, config=CONFIG).values()
    # A key column cannot be declared PII (the config refuses it): no pii: entry is suggested.
    assert scan_dataset_frame(frame, cfg, CONFIG).suggested_pii_block() == ""
    assert "entity_id" in failure
    assert "surrogate" in failure


def test_free_text_suggestions_say_what_redact_keeps() -> None:
    notes = [f"Spoke with Mary Smith about invoice {i}, she asked for a call back." for i in range(30)]
    mails = [f"Customer prefers e-mail: client{i}@example.com for statements." for i in range(30)]
    result = scan_frame(pd.DataFrame({"call notes": notes, "remarks": mails}), CONFIG)
    assert {f.column: set(f.entities) for f in result.findings} == {
        "call notes": {"PERSON"},
        "remarks": {"EMAIL_ADDRESS"},
    }
    block = result.suggested_pii_block()
    assert '"call notes": {action: drop}  # PERSON in free text; redact keeps names and addresses' in block
    assert "remarks: {action: redact}  # EMAIL_ADDRESS in free text" in block


def test_reports_never_hold_raw_values(sample: pd.DataFrame) -> None:
    frame = _with_undeclared(sample)
    cfg = load_dataset_config(SAMPLE_CONFIG)
    dumped = json.dumps(scan_dataset_frame(frame, cfg, CONFIG).model_dump()) + "\n".join(
        pii_gate(frame, dataset=cfg, config=CONFIG).values()
    )
    for column in ("email", "phone", "national_id", "backup_contact", "ref", "full_name"):
        assert not any(str(v) in dumped for v in frame[column].head(200)), column
    assert mask("4111 1111 1111 1111") == "**** **** **** **11"


def test_column_names_hint_and_products_are_no_people() -> None:
    assert "PERSON" in hinted_entities("customerName")
    assert "PERSON" not in hinted_entities("product_name")
    assert "DATE_OF_BIRTH" in hinted_entities("DateOfBirth")
    assert "STREET_ADDRESS" not in hinted_entities("email_address")
    frame = pd.DataFrame(
        {
            "product_name": ["Summer Sale Bundle", "Blue Widget", "Grace Bay Resort"] * 20,
            "holder_name": ["Kofi Mensah", "Ngozi Okafor", "Hiroshi Tanaka"] * 20,
            "order_date": ["1987-03-14", "1990-07-02", "1975-11-30"] * 20,
            "date_of_birth": ["1987-03-14", "1990-07-02", "1975-11-30"] * 20,
        }
    )
    result = scan_frame(frame, CONFIG)
    assert {f.column: set(f.entities) for f in result.findings} == {
        "holder_name": {"PERSON"},
        "date_of_birth": {"DATE_OF_BIRTH"},
    }


def test_typed_columns_are_read_as_their_values() -> None:
    """Parquet keeps birth dates as timestamps and card numbers as integers; amounts are never PII."""
    frame = pd.DataFrame(
        {
            "birth_date": pd.to_datetime(["1987-03-14", "1990-07-02", "1975-11-30"] * 20),
            "signup_date": pd.to_datetime(["1987-03-14", "1990-07-02", "1975-11-30"] * 20),
            "card": [4111111111111111, 5555555555554444, 378282246310005] * 20,
            "amount": [4111111111111111.0, 12.5, 99.99] * 20,
            "opted_in": [True, False, True] * 20,
        }
    )
    result = scan_frame(frame, CONFIG)
    assert {f.column: set(f.entities) for f in result.findings} == {
        "birth_date": {"DATE_OF_BIRTH"},
        "card": {"CREDIT_CARD"},
    }


# --------------------------------------------------------------------------- the validation step
def test_the_validation_step_blocks_undeclared_pii(sample_run: StepRun, ingested: DataContract) -> None:
    from data_quality.step import validate_step

    run = sample_run.variant("pii-undeclared")
    frame = _with_undeclared(pd.read_parquet(sample_run.artifact(*DATASET)))
    run.artifact(*DATASET).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(run.artifact(*DATASET), index=False)
    check = partial(pii_gate, dataset=run.config.dataset, config=run.platform.privacy.discovery)
    quality = run.step(
        "validate_data",
        validate_step,
        run.config.dataset,
        ingested,
        inputs=(DATASET,),
        outputs=("clean", "quarantine", "report"),
        gate=run.platform.quality,
        state_dir=run.platform.state_dir,
        pii_check=check,
    )
    assert not quality.passed
    assert any("undeclared PII in column 'backup_contact'" in f for f in quality.failed_expectations)
    rec = recorded(run, "validate_data", status="blocked")
    assert "'ref': CREDIT_CARD" in rec["message"]
    assert rec["figures"]["undeclared_pii_columns"] == 2
    # The undeclared values are withheld from everything the step writes.
    written = pd.concat([pd.read_parquet(run.artifact("validate_data", o)) for o in ("clean", "quarantine")])
    assert len(written) == len(frame)
    assert written["backup_contact"].isna().all()
    assert written["ref"].isna().all()
    report = run.artifact("validate_data", "report").read_text()
    assert not any(v in report for v in frame["backup_contact"].head(100))


def test_the_ingested_sample_passes_the_pii_check(sample_run: StepRun, ingested: DataContract) -> None:
    """Declared columns are anonymised by ingest; nothing undeclared remains."""
    frame = pd.read_parquet(sample_run.artifact(*DATASET))
    assert pii_gate(frame, dataset=sample_run.config.dataset, config=sample_run.platform.privacy.discovery) == {}


def test_the_component_binds_the_pii_check() -> None:
    source = (ROOT / "components" / "validate_data.py").read_text()
    assert "pii_check=partial(pii_gate, dataset=run.dataset, config=run.platform.privacy.discovery)" in source


# --------------------------------------------------------------------------- CLI
def _mlops(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_cli_scan_exits_3_naming_undeclared_pii(tmp_path: Path, sample: pd.DataFrame) -> None:
    data = tmp_path / "people.csv"
    _with_undeclared(sample).to_csv(data, index=False)
    raw = yaml.safe_load(SAMPLE_CONFIG.read_text())
    for key in ("synthetic", "expectation_suite"):
        raw.pop(key)
    (tmp_path / "people.yaml").write_text(yaml.safe_dump(raw | {"path": "people.csv", "name": "people"}))
    proc = _mlops("privacy", "scan", "--dataset", str(tmp_path / "people.yaml"), "--config-dir", str(ROOT / "config"))
    assert proc.returncode == 3, proc.stderr
    assert "undeclared PII in 2 column(s)" in proc.stderr
    assert "'backup_contact': EMAIL_ADDRESS" in proc.stderr
    assert "'ref': CREDIT_CARD" in proc.stderr
    assert "  backup_contact: {action: hash}" in proc.stderr
    assert "person1@example.org" not in proc.stdout + proc.stderr

    as_json = _mlops(
        "privacy", "scan", "--dataset", str(tmp_path / "people.yaml"), "--config-dir", str(ROOT / "config"), "--json"
    )
    assert as_json.returncode == 3
    payload = json.loads(as_json.stdout)
    assert payload["undeclared"] == ["backup_contact", "ref"]
    assert payload["suggested_pii_block"].startswith("pii:\n")

    # Declared, the same data passes.
    raw["pii"] |= {"backup_contact": {"action": "hash"}, "ref": {"action": "mask", "keep_last": 4}}
    (tmp_path / "people.yaml").write_text(yaml.safe_dump(raw | {"path": "people.csv", "name": "people"}))
    ok = _mlops("privacy", "scan", "--dataset", str(tmp_path / "people.yaml"), "--config-dir", str(ROOT / "config"))
    assert ok.returncode == 0, ok.stderr


# --------------------------------------------------------------------------- offline, config
def test_nothing_is_fetched_from_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access during a scan")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    frame = pd.DataFrame({"contact": ["ana@example.co.uk", "ben@mail.example.org", "no e-mail here"] * 10})
    assert [set(f.entities) for f in scan_frame(frame, CONFIG).findings] == [{"EMAIL_ADDRESS"}]


def test_the_discovery_config_is_strict() -> None:
    with pytest.raises(ValidationError, match="min_shar"):
        PrivacyConfig.model_validate({"discovery": {"min_shar": 0.5}})
    with pytest.raises(ValidationError, match="min_share"):
        DiscoveryConfig(min_share=0)
    assert PrivacyConfig().discovery.enabled


def test_a_bad_hints_file_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "hints.yaml"
    bad.write_text("hints:\n  - entity: EMAIL_ADDRESS\n    word: [email]\n")
    with pytest.raises(ConfigError, match=r"hints\.yaml: hints\.0\.(words|word)"):
        load_hints(bad)

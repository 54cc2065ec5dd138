"""Training leaves out the subjects without consent: the ingest step called as its component
calls it (with the consent filter on the state folder's store), then the register step, whose
lineage records the count (fixtures from :mod:`tests.steps`)."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from mlops.contracts import DataContract
from mlops.secrets import SecretResolver
from privacy.anonymization.step import anonymize_frame
from privacy.config import ConsentConfig, ConsentMode
from privacy.consent import ConsentStore, consent_filter, read_consent_file
from tests.steps import Candidate, StepRun, new_step_run, recorded, register
from training.steps import ingest_step

ENTITY = "applicant_id"


def consent_run(state: Path, mode: ConsentMode) -> StepRun:
    """A step run of its own (state folder, registry, consent store) on the 2,000-row sample."""
    run = new_step_run(state, "consent")
    privacy = run.platform.privacy.model_copy(update={"consent": ConsentConfig(training=mode)})
    config = run.config.model_copy(update={"platform": run.platform.model_copy(update={"privacy": privacy})})
    return dataclasses.replace(run, config=config)


def ingest_with_consent(run: StepRun) -> DataContract:
    """The ingest step as components/ingest.py calls it."""
    platform = run.platform
    anonymise = partial(anonymize_frame, privacy=platform.privacy, vault=platform.vault)
    consent = consent_filter(platform.privacy.consent, platform.state_dir, SecretResolver(platform.vault).resolve)
    return run.step(
        "ingest", ingest_step, run.config.dataset, outputs=("dataset",), anonymise=anonymise, consent=consent
    )


def import_consent(run: StepRun, withdrawn: list[str], granted: list[str]) -> None:
    lines = [f"{s},training,withdrawn,2024-02-01T00:00:00Z,test" for s in withdrawn]
    lines += [f"{s},training,granted,2024-01-01T00:00:00Z,test" for s in granted]
    # Granted first, then withdrawn: the latest record wins.
    lines += [f"{s},training,granted,2024-01-01T00:00:00Z,test" for s in withdrawn]
    file = run.state / "consent.csv"
    file.write_text("subject_id,purpose,status,time,source\n" + "\n".join(lines) + "\n")
    with ConsentStore.open(run.platform.privacy.consent, run.state, lambda ref: ref) as store:
        store.add(read_consent_file(file, run.platform.privacy.consent.purposes))


@dataclasses.dataclass(frozen=True)
class OptOut:
    run: StepRun
    data: DataContract
    withdrawn: list[str]
    granted: list[str]


@pytest.fixture(scope="module")
def opt_out(tmp_path_factory: pytest.TempPathFactory) -> OptOut:
    run = consent_run(tmp_path_factory.mktemp("consent-opt-out") / ".mlops", "opt_out")
    subjects = pd.read_parquet(run.raw, columns=[ENTITY])[ENTITY].astype(str).drop_duplicates().tolist()
    withdrawn, granted = subjects[:25], subjects[25:40]
    import_consent(run, withdrawn, granted)
    return OptOut(run, ingest_with_consent(run), withdrawn, granted)


def test_ingest_leaves_out_the_subjects_who_withdrew(opt_out: OptOut) -> None:
    run, data, withdrawn = opt_out.run, opt_out.data, opt_out.withdrawn
    raw = pd.read_parquet(run.raw)
    excluded = int(raw[ENTITY].astype(str).isin(withdrawn).sum())
    assert excluded >= len(withdrawn)
    written = pd.read_parquet(run.artifact("ingest", "dataset"))
    assert len(written) == data.rows == len(raw) - excluded
    assert not written[ENTITY].astype(str).isin(withdrawn).any()
    assert data.consent is not None
    assert data.consent.model_dump(exclude={"checked_at", "store"}) == {
        "purpose": "training",
        "mode": "opt_out",
        "subject_column": ENTITY,
        "rows_read": len(raw),
        "excluded_rows": excluded,
        "excluded_subjects": len(withdrawn),
        "rows_without_record": len(raw) - int(raw[ENTITY].astype(str).isin(withdrawn + opt_out.granted).sum()),
    }
    assert data.consent.store == f"sqlite:///{(run.state / 'privacy' / 'consent.db').resolve()}"
    rec = recorded(run, "ingest")
    assert rec["figures"]["consent_excluded_rows"] == excluded
    assert rec["figures"]["rows"] == data.rows
    assert any(
        n.startswith(f"consent (opt_out, training): {excluded} of {len(raw)} rows excluded") for n in rec["notes"]
    )


def test_the_registered_version_s_lineage_records_the_exclusion(
    opt_out: OptOut, sample_run: StepRun, candidate: Candidate
) -> None:
    """The consent check rides on the data contract to the register step (the session's model
    and training set stand for the rest of the run)."""
    run, data = opt_out.run, opt_out.data
    with_consent = dataclasses.replace(candidate, data=candidate.data.model_copy(update={"consent": data.consent}))
    registration = register(run, sample_run, with_consent)
    registry = run.registry()
    lineage = registry.lineage(registry.get(registration.model, registration.version))
    assert data.consent is not None
    assert lineage["consent"] == data.consent.model_dump(mode="json")
    assert lineage["consent"]["excluded_rows"] > 0


def test_opt_in_keeps_only_the_subjects_who_granted(tmp_path: Path) -> None:
    run = consent_run(tmp_path / ".mlops", "opt_in")
    raw = pd.read_parquet(run.raw, columns=[ENTITY])[ENTITY].astype(str)
    granted = raw.drop_duplicates().tolist()[:300]
    import_consent(run, withdrawn=granted[:10], granted=granted[10:])
    data = ingest_with_consent(run)
    kept = int(raw.isin(granted[10:]).sum())
    assert data.rows == kept
    assert data.consent is not None
    assert data.consent.excluded_rows == len(raw) - kept

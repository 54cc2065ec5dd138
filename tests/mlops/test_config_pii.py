"""The PII policy: one model per action, so an option of another action fails naming its key."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from mlops.config import (
    PII_ACTIONS,
    PiiColumn,
    PiiDrop,
    PiiGeneralise,
    PiiHash,
    PiiMask,
    PiiRedact,
    load_dataset_config,
)
from mlops.errors import ConfigError

POLICY: TypeAdapter[PiiColumn] = TypeAdapter(PiiColumn)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"action": "hash"}, PiiHash(action="hash")),
        ({"action": "mask"}, PiiMask(action="mask", keep_last=0)),
        ({"action": "mask", "keep_last": 4}, PiiMask(action="mask", keep_last=4)),
        ({"action": "drop"}, PiiDrop(action="drop")),
        ({"action": "generalise", "bucket": 25000}, PiiGeneralise(action="generalise", bucket=25000)),
        ({"action": "generalise", "period": "year"}, PiiGeneralise(action="generalise", period="year")),
        ({"action": "generalise", "prefix": 3}, PiiGeneralise(action="generalise", prefix=3)),
        (
            {"action": "generalise", "bucket": 10, "period": "month", "prefix": 2},
            PiiGeneralise(action="generalise", bucket=10, period="month", prefix=2),
        ),
        ({"action": "redact"}, PiiRedact(action="redact")),
    ],
)
def test_each_action_has_its_own_model(raw: dict[str, Any], expected: PiiColumn) -> None:
    policy = POLICY.validate_python(raw)
    assert type(policy) is type(expected)
    assert policy == expected


def test_every_action_has_a_model() -> None:
    assert set(PII_ACTIONS) == {"hash", "mask", "drop", "generalise", "redact"}
    for action, model in PII_ACTIONS.items():
        options = {"prefix": 1} if action == "generalise" else {}
        assert type(POLICY.validate_python({"action": action, **options})) is model


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        ({"action": "hash", "keep_last": 3}, "keep_last", "not an option of action 'hash', which takes no options"),
        ({"action": "drop", "prefix": 2}, "prefix", "not an option of action 'drop', which takes no options"),
        ({"action": "redact", "period": "year"}, "period", "not an option of action 'redact', which takes no options"),
        ({"action": "mask", "bucket": 10}, "bucket", "not an option of action 'mask', which takes keep_last"),
        (
            {"action": "generalise", "prefix": 2, "keep_last": 1},
            "keep_last",
            "not an option of action 'generalise', which takes bucket, period, prefix",
        ),
    ],
)
def test_an_option_of_another_action_is_rejected_naming_the_key(raw: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        POLICY.validate_python(raw)
    (err,) = exc.value.errors()
    assert err["loc"] == (key,)
    assert err["msg"] == message


@pytest.mark.parametrize(
    ("raw", "key", "fragment"),
    [
        ({"action": "mask", "keep_last": -1}, ("keep_last",), "greater than or equal to 0"),
        ({"action": "generalise", "bucket": 0}, ("bucket",), "greater than 0"),
        ({"action": "generalise", "period": "week"}, ("period",), "'month' or 'year'"),
        ({"action": "generalise"}, (), "generalise needs bucket (numbers), period (timestamps) or prefix (text)"),
        ({"action": "encrypt"}, ("action",), "one of 'hash', 'mask', 'drop', 'generalise', 'redact'"),
        ({"keep_last": 2}, ("action",), "Field required"),
        ("hash", (), "a mapping with an action"),
    ],
)
def test_bad_values_are_located_without_the_union_tag(raw: Any, key: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        POLICY.validate_python(raw)
    (err,) = exc.value.errors()
    assert err["loc"] == key
    assert fragment in err["msg"]


def _dataset_yaml(tmp_path: Path, pii: str) -> Path:
    path = tmp_path / "ds.yaml"
    path.write_text(f"name: pii_check\npath: data.csv\ntarget: y\npii:\n{pii}")
    return path


def test_the_loader_names_file_column_and_key(tmp_path: Path) -> None:
    path = _dataset_yaml(tmp_path, "  email: {action: hash, keep_last: 3}\n")
    with pytest.raises(ConfigError) as exc:
        load_dataset_config(path)
    assert (
        str(exc.value) == f"{path}: pii.email.keep_last: not an option of action 'hash', which takes no options (got 3)"
    )


def test_the_loader_reports_every_misplaced_key(tmp_path: Path) -> None:
    path = _dataset_yaml(
        tmp_path, "  phone: {action: mask, keep_last: 4, prefix: 3}\n  zip: {action: drop, bucket: 5}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_dataset_config(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: pii.phone.prefix: not an option of action 'mask', which takes keep_last")
    assert "; also pii.zip.bucket: not an option of action 'drop', which takes no options (got 5)" in message


@pytest.mark.parametrize(
    ("pii", "expected"),
    [
        ("  email: {action: encrypt}\n", "pii.email.action: Input should be one of 'hash', 'mask'"),
        ("  email: {keep_last: 2}\n", "pii.email.action: a value (this key is required)"),
        ("  email: {action: mask, keep_last: -2}\n", "pii.email.keep_last: Input should be greater than or equal to 0"),
        ("  when: {action: generalise}\n", "pii.when: generalise needs bucket (numbers), period (timestamps)"),
        ("  email: hash\n", 'pii.email: Input should be a mapping with an action, such as {action: hash} (got "hash")'),
    ],
)
def test_the_loader_reads_well_for_other_mistakes(tmp_path: Path, pii: str, expected: str) -> None:
    path = _dataset_yaml(tmp_path, pii)
    with pytest.raises(ConfigError) as exc:
        load_dataset_config(path)
    assert str(exc.value).startswith(f"{path}: {expected}")


def test_the_dataset_keeps_the_typed_policies(tmp_path: Path) -> None:
    path = _dataset_yaml(tmp_path, "  email: {action: hash}\n  phone: {action: mask, keep_last: 4}\n")
    cfg = load_dataset_config(path)
    assert cfg.pii == {"email": PiiHash(action="hash"), "phone": PiiMask(action="mask", keep_last=4)}

"""Typed config: the shipped files validate; bad files name file, key and what was expected."""

import shutil
from pathlib import Path

import pytest

from mlops.config import DatasetConfig, load_dataset_config, load_model
from mlops.errors import ConfigError
from mlops_cli.config_files import validate_config_dir
from platform_config import PlatformConfig, load_platform_config
from serving.config import AbTestingConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "config"
    shutil.copytree(ROOT / "config", dest)
    return dest


def test_shipped_config_validates_in_every_environment() -> None:
    checked = validate_config_dir(ROOT / "config")
    assert "platform.yaml + environments/prod.yaml" in checked
    assert "datasets/credit_risk.yaml" in checked
    prod = load_platform_config(ROOT / "config", "prod")
    dev = load_platform_config(ROOT / "config", "dev")
    # Overlays change only a few keys: prod is stricter, the rest is inherited.
    assert prod.fairness.max_demographic_parity_difference < dev.fairness.max_demographic_parity_difference
    assert prod.model == dev.model
    assert prod.privacy.hash_key.startswith("vault://")


def test_unknown_key_names_file_and_key(config_dir: Path) -> None:
    (config_dir / "environments" / "dev.yaml").write_text("quality:\n  min_row_pass_rat: 0.9\n")
    with pytest.raises(ConfigError) as exc:
        load_platform_config(config_dir, "dev")
    assert exc.value.file.endswith("environments/dev.yaml")
    assert exc.value.key == "quality.min_row_pass_rat"
    assert "no such key" in str(exc.value)


def test_wrong_type_names_expected_value(config_dir: Path) -> None:
    text = (config_dir / "platform.yaml").read_text().replace("test_size: 0.2", "test_size: lots")
    (config_dir / "platform.yaml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_platform_config(config_dir, "staging")
    assert exc.value.file.endswith("platform.yaml")
    assert exc.value.key == "model.test_size"
    assert "number" in exc.value.expected


def test_literal_secret_is_rejected(config_dir: Path) -> None:
    (config_dir / "environments" / "dev.yaml").write_text("privacy:\n  hash_key: hunter2hunter2\n")
    with pytest.raises(ConfigError, match=r"privacy\.hash_key: a secret reference"):
        load_platform_config(config_dir, "dev")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "ab_testing.yaml"
    bad.write_text("enabled: true\nvariants: [unclosed\n")
    with pytest.raises(ConfigError, match=r"ab_testing.yaml: <root>: valid YAML \(line"):
        load_model(bad, AbTestingConfig)


def test_ab_weights_must_sum_to_one(tmp_path: Path) -> None:
    bad = tmp_path / "ab_testing.yaml"
    bad.write_text("variants:\n  a: {alias: champion, weight: 0.5}\n  b: {alias: challenger, weight: 0.2}\n")
    with pytest.raises(ConfigError, match="sum to 0.7"):
        load_model(bad, AbTestingConfig)


def test_unexpected_file_in_config_dir_is_reported(config_dir: Path) -> None:
    (config_dir / "stray.yaml").write_text("a: 1\n")
    with pytest.raises(ConfigError, match="stray.yaml"):
        validate_config_dir(config_dir)


def test_dataset_paths_resolve_against_the_yaml(tmp_path: Path) -> None:
    cfg_file = tmp_path / "sub" / "ds.yaml"
    cfg_file.parent.mkdir()
    cfg_file.write_text("name: loans\npath: data/x.csv\ntarget: y\nexpectation_suite: suite.yaml\n")
    cfg = load_dataset_config(cfg_file)
    assert cfg.path == (tmp_path / "sub" / "data" / "x.csv").resolve()
    assert cfg.expectation_suite == (tmp_path / "sub" / "suite.yaml").resolve()
    assert cfg.file_format == "csv"


def test_dataset_pii_cannot_be_the_target() -> None:
    with pytest.raises(ValueError, match="both PII and the target"):
        DatasetConfig(name="x1", path=Path("a.csv"), target="email", pii={"email": {"action": "hash"}})  # type: ignore[dict-item]


def test_latest_image_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="pinned image tag"):
        PlatformConfig.model_validate({"kfp": {"image": "repo/img:latest"}})

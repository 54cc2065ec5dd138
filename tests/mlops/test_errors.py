"""The error tree is public API: pinned here, and drawn in the module docstring."""

import re

import mlops.errors as errors


def test_public_names_are_pinned() -> None:
    assert sorted(errors.__all__) == [
        "BackupError",
        "BackupKeyError",
        "BackupNotFoundError",
        "BackupUnavailableError",
        "BackupVerifyError",
        "ChallengerProcessError",
        "ClusterError",
        "ClusterUnavailableError",
        "ConfigError",
        "DatasetError",
        "FeatureStoreError",
        "FeatureStoreUnavailableError",
        "InfraValidationError",
        "InsufficientDataError",
        "LabelsError",
        "LocalStackError",
        "MissingToolError",
        "MlopsError",
        "MonitoringError",
        "NoPredictionsError",
        "ObjectStoreError",
        "PipelineError",
        "PrivacyError",
        "ReferenceNotFoundError",
        "RegistryError",
        "RestoreRefusedError",
        "SecretAccessDeniedError",
        "SecretError",
        "SecretNotFoundError",
        "ServingError",
        "TemplateError",
        "VaultUnavailableError",
        "VersionError",
    ]


def test_docstring_draws_every_class_with_its_parent() -> None:
    doc = errors.__doc__ or ""
    drawn = re.findall(r"^\s*[│ ]*[├└]── (\w+)", doc, flags=re.MULTILINE)
    assert sorted([*drawn, "MlopsError"]) == sorted(errors.__all__)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.MlopsError)
    assert issubclass(errors.VaultUnavailableError, errors.SecretError)
    assert issubclass(errors.VersionError, errors.RegistryError)
    assert issubclass(errors.FeatureStoreUnavailableError, errors.ServingError)
    assert issubclass(errors.ChallengerProcessError, errors.ServingError)
    assert issubclass(errors.MissingToolError, errors.InfraValidationError)
    for monitoring in ("NoPredictionsError", "LabelsError", "ReferenceNotFoundError", "InsufficientDataError"):
        assert issubclass(getattr(errors, monitoring), errors.MonitoringError)
    assert issubclass(errors.TemplateError, errors.InfraValidationError)
    assert issubclass(errors.ClusterUnavailableError, errors.ClusterError)


def test_config_error_message_names_file_key_and_expectation() -> None:
    err = errors.ConfigError("config/platform.yaml", "model.family", "one of 'a', 'b'")
    assert str(err) == "config/platform.yaml: model.family: one of 'a', 'b'"

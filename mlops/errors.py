"""The one exception tree of the platform.

Every error the platform raises on purpose derives from :class:`MlopsError`; the CLI prints
its message on one line and exits non-zero. Failed data checks and gates are *results*
(returned objects), not exceptions.

    MlopsError
    ├── ConfigError          a config file or key is missing or has the wrong shape
    ├── SecretError          a secret reference cannot be resolved (names the reference)
    │   ├── VaultUnavailableError    Vault unreachable, too slow or sealed
    │   ├── SecretAccessDeniedError  credentials refused or the policy forbids the operation
    │   └── SecretNotFoundError      no secret, key or live version at the path
    ├── DatasetError         a dataset cannot be read or lacks a declared column
    ├── FeatureStoreError    Feast apply / materialise / retrieval failed or lost rows
    ├── RegistryError        model registry lookups and updates
    │   └── VersionError     a semantic version is malformed or cannot be bumped
    ├── PipelineError        a pipeline could not be compiled, run or submitted
    ├── ServingError         the online app cannot answer, or its shadow challenger failed
    │   ├── FeatureStoreUnavailableError  the online store failed while a request needed it (503)
    │   └── ChallengerProcessError        the challenger's scoring process is gone or answered an error
    ├── MonitoringError      too little data, no reference for a version, a requested push failed
    │   ├── NoPredictionsError   no predictions logged for a model in the window asked for
    │   ├── LabelsError          a ground-truth labels file cannot be imported (names file and column)
    │   ├── ReferenceNotFoundError  no drift reference saved for a model version (says how to make one)
    │   └── InsufficientDataError   too few current rows to compare with the reference
    ├── LocalStackError      a server of the local reference deployment (make up) cannot start or answer
    ├── ClusterError         the Kubernetes API refused a request, or a rollout did not finish in time
    │   └── ClusterUnavailableError  no Kubernetes configuration, or its API server does not answer
    ├── ObjectStoreError     an s3:// object or bucket is missing, refused or unreachable (names the URI)
    ├── PrivacyError         an erasure, consent or retention request cannot be carried out (names the store)
    ├── BackupError          a backup cannot be made, found, read, verified or restored (names backup and target)
    │   ├── BackupNotFoundError       no complete backup with that id in the repository
    │   ├── BackupUnavailableError    the repository's object store does not answer (after bounded retries)
    │   ├── BackupKeyError            the repository key is missing or wrong (names the key file)
    │   ├── BackupVerifyError         a stored object or a restored file does not match (names object and target)
    │   └── RestoreRefusedError       a restore would overwrite data or cannot read the backup's format
    └── InfraValidationError  `make validate-infra` cannot evaluate a check
        ├── MissingToolError     a tool a check needs is not installed (says how to install it)
        └── TemplateError        an ApplicationSet template cannot be evaluated offline
"""

from __future__ import annotations

from pathlib import Path


class MlopsError(Exception):
    """Base of every error raised on purpose by the platform."""


class ConfigError(MlopsError):
    """A configuration file is missing, unreadable or invalid.

    The message names the file, the key (dotted path) and what was expected.
    """

    def __init__(self, file: str | Path, key: str, expected: str) -> None:
        self.file = str(file)
        self.key = key
        self.expected = expected
        super().__init__(f"{self.file}: {key or '<root>'}: {expected}")


class SecretError(MlopsError):
    """A secret reference (``env://``, ``file://``, ``vault://``) cannot be resolved."""

    def __init__(self, reference: str, reason: str) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(f"secret {reference}: {reason}")


class VaultUnavailableError(SecretError):
    """Vault is unreachable, too slow or sealed."""


class SecretAccessDeniedError(SecretError):
    """Vault refused the credentials or the policy does not allow the operation."""


class SecretNotFoundError(SecretError):
    """No secret (or no live version) at the path."""


class DatasetError(MlopsError):
    """A dataset cannot be loaded or does not have the declared columns."""


class FeatureStoreError(MlopsError):
    """Feast apply, materialisation or retrieval failed, or rows were lost."""


class RegistryError(MlopsError):
    """The model registry cannot find or update a model version."""


class VersionError(RegistryError):
    """A semantic version string is malformed or cannot be bumped."""


class PipelineError(MlopsError):
    """A pipeline cannot be compiled, run or submitted."""


class ServingError(MlopsError):
    """The online app cannot answer a request, or its shadow challenger failed."""


class FeatureStoreUnavailableError(ServingError):
    """The online store failed while a request needed features from it (answered with 503)."""


class ChallengerProcessError(ServingError):
    """The shadow challenger's scoring process is gone or answered with an error.

    The mirror records it with the pair (``ChallengerProcessError: ...``); it never reaches the
    primary response.
    """


class MonitoringError(MlopsError):
    """Monitoring cannot produce a result: too little data, no reference for a version, or a
    push to Prometheus that was asked for and failed. Drift found is a result, not an error."""


class NoPredictionsError(MonitoringError):
    """No predictions were logged for a model (and version) in the window asked for."""


class LabelsError(MonitoringError):
    """A ground-truth labels file cannot be imported.

    The message names the file, the column (when one is at fault) and what was expected.
    """

    def __init__(self, file: str | Path, column: str, expected: str) -> None:
        self.file = str(file)
        self.column = column
        self.expected = expected
        where = f"column {column!r}: " if column else ""
        super().__init__(f"{self.file}: {where}{expected}")


class ReferenceNotFoundError(MonitoringError):
    """No drift reference was saved for a model version; the message names both and how to make one."""


class InsufficientDataError(MonitoringError):
    """Too few current rows (or labelled rows) to compare with the reference; names the minimum."""


class LocalStackError(MlopsError):
    """A server of the local reference deployment cannot be started, reached or stopped.

    The message names the server and, when it ran, its log file (with the log's last lines).
    """


class ClusterError(MlopsError):
    """A Kubernetes API request was refused or failed, or a rollout or scale did not finish within
    its timeout; names the object (kind, namespace/name) and what the API or its status said."""


class ClusterUnavailableError(ClusterError):
    """No Kubernetes configuration could be loaded (no kubeconfig, unknown context, not in a pod),
    or the API server does not answer; names where the configuration was looked for."""


class ObjectStoreError(MlopsError):
    """An ``s3://`` object cannot be read or written: missing object or bucket, refused
    credentials, or a store that does not answer within its bounded timeouts; names the URI."""


class PrivacyError(MlopsError):
    """A privacy request (erasure, consent, retention) cannot be carried out; names the store or file."""


class BackupError(MlopsError):
    """A backup cannot be made, listed, verified, restored or pruned; names the backup and target."""


class BackupNotFoundError(BackupError):
    """No complete backup with the id asked for is in the repository."""


class BackupUnavailableError(BackupError):
    """The backup repository (its object store) did not answer after bounded retries."""


class BackupKeyError(BackupError):
    """The repository key is missing or does not open the repository; names the key file."""


class BackupVerifyError(BackupError):
    """A stored object or a restored file does not match; names the object and the target."""


class RestoreRefusedError(BackupError):
    """A restore was refused before touching anything: a non-empty target without ``--force``, or
    a backup written in a newer manifest format than this code reads."""


class InfraValidationError(MlopsError):
    """The infrastructure validator cannot evaluate a check (a failed check is a result)."""


class MissingToolError(InfraValidationError):
    """A tool a check needs is not installed; the message says how to install it."""

    def __init__(self, tool: str, install: str) -> None:
        self.tool = tool
        super().__init__(f"missing tool: {tool} -- install it with {install}")


class TemplateError(InfraValidationError):
    """Part of an Argo CD ApplicationSet template that cannot be evaluated offline."""


__all__ = [
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

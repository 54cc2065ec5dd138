"""S3-compatible object store access: the platform config's ``object_store:`` section.

One small API every room uses for ``s3://bucket/key`` data (datasets, backups, child tools):

- :class:`ObjectStoreConfig`: endpoint (None: AWS itself), region, and the access key pair as
  secret references (``vault://…``, ``env://…``, ``file://…``; both None: the default AWS
  credential chain, e.g. a pod's workload identity).
- :func:`aws_environment`: the standard ``AWS_*`` variables for a child process (restic, boto3,
  the MLflow server, pyarrow all read them).
- :func:`s3_filesystem`: a pyarrow ``S3FileSystem`` with short timeouts and few retries, so a
  missing object, a wrong key or a store that is down fails in seconds.
- :class:`ObjectStore`: a config with the resolver for its references (what callers pass on).
- :func:`split_uri` / :func:`is_uri`: ``s3://`` URIs; :func:`describe_error` turns pyarrow's
  error into one line naming the URI (:class:`~mlops.errors.ObjectStoreError`).

pyarrow and the secret backends are imported lazily: importing this module stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from mlops.config import StrictModel, check_secret_ref
from mlops.errors import ObjectStoreError

if TYPE_CHECKING:
    from pyarrow import fs

SCHEME = "s3://"
# Bucket names as S3 allows them; the key is anything non-empty.
_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")

Resolve = Callable[[str], str]


class ObjectStoreConfig(StrictModel):
    """``object_store:``: where ``s3://`` URIs live and how to authenticate."""

    # None: AWS's own endpoint for the region; else an S3-compatible server (SeaweedFS, MinIO).
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+/?$")
    region: str = Field(default="us-east-1", min_length=1)
    access_key_id: str | None = None
    secret_access_key: str | None = None
    # Bounded so a down store fails a step in seconds instead of hanging it.
    connect_timeout_s: float = Field(default=2.0, gt=0, le=60)
    request_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Attempts per request, the first included (1: no retry).
    max_attempts: int = Field(default=2, ge=1, le=10)

    @field_validator("access_key_id", "secret_access_key")
    @classmethod
    def _is_reference(cls, v: str | None) -> str | None:
        return None if v is None else check_secret_ref(v)

    @model_validator(mode="after")
    def _pair(self) -> ObjectStoreConfig:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together (both references, or neither)")
        return self


@dataclass(frozen=True)
class Credentials:
    """A resolved access key pair (the secret is kept out of ``repr``)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


def is_uri(location: object) -> bool:
    """Whether ``location`` is an ``s3://`` URI (a str; a ``Path`` never is)."""
    return isinstance(location, str) and location.startswith(SCHEME)


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; ValueError naming the expected shape."""
    match = _URI.match(uri)
    if match is None:
        raise ValueError(f"an s3://BUCKET/KEY URI (lower-case bucket name, non-empty key), got {uri[:80]!r}")
    return match[1], match[2]


def _default_resolve() -> Resolve:
    from mlops.secrets import resolve_secret

    return resolve_secret


def credentials(config: ObjectStoreConfig, resolve: Resolve | None = None) -> Credentials | None:
    """The access key pair behind the config's references (None: the default AWS chain).

    ``resolve`` turns a reference into its value (a :class:`~mlops.secrets.SecretResolver`'s
    ``resolve``; by default the process-wide resolver)."""
    if config.access_key_id is None or config.secret_access_key is None:
        return None
    read = resolve or _default_resolve()
    return Credentials(read(config.access_key_id), read(config.secret_access_key))


def environment_for(
    creds: Credentials | None, *, endpoint_url: str | None, region: str = "us-east-1"
) -> dict[str, str]:
    """The ``AWS_*`` variables for a child process, from already resolved credentials."""
    env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url.rstrip("/")
    if creds is not None:
        env["AWS_ACCESS_KEY_ID"] = creds.access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = creds.secret_access_key
    return env


def aws_environment(config: ObjectStoreConfig, resolve: Resolve | None = None) -> dict[str, str]:
    """``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``
    (and ``AWS_DEFAULT_REGION``) for a child tool; keys absent when the config leaves them to
    the default chain. Merge into the child's environment: ``env = os.environ | aws_environment(c)``."""
    return environment_for(credentials(config, resolve), endpoint_url=config.endpoint_url, region=config.region)


def s3_filesystem(config: ObjectStoreConfig, resolve: Resolve | None = None) -> fs.S3FileSystem:
    """A pyarrow S3 filesystem for the config (paths are ``bucket/key``, no scheme)."""
    from pyarrow import fs

    creds = credentials(config, resolve)
    options: dict[str, object] = {}
    if config.endpoint_url:
        scheme, _, host = config.endpoint_url.rstrip("/").partition("://")
        options |= {"endpoint_override": host, "scheme": scheme}
    if creds is not None:
        options |= {"access_key": creds.access_key_id, "secret_key": creds.secret_access_key}
    return fs.S3FileSystem(
        region=config.region,
        connect_timeout=config.connect_timeout_s,
        request_timeout=config.request_timeout_s,
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=config.max_attempts),
        **options,
    )


class ObjectStore:
    """A config with the resolver for its references; the filesystem is built once, on first use."""

    def __init__(self, config: ObjectStoreConfig | None = None, resolve: Resolve | None = None) -> None:
        self.config = config or ObjectStoreConfig()
        self.resolve = resolve
        self._fs: fs.S3FileSystem | None = None

    def filesystem(self) -> fs.S3FileSystem:
        if self._fs is None:
            self._fs = s3_filesystem(self.config, self.resolve)
        return self._fs

    def environment(self) -> dict[str, str]:
        return aws_environment(self.config, self.resolve)

    def error(self, uri: str, exc: BaseException) -> ObjectStoreError:
        return describe_error(uri, exc, self.config)


def describe_error(uri: str, exc: BaseException, config: ObjectStoreConfig | None = None) -> ObjectStoreError:
    """One line naming the URI and what went wrong (pyarrow's messages are long and nested)."""
    text = str(exc)
    where = f" at {config.endpoint_url}" if config is not None and config.endpoint_url else ""
    if isinstance(exc, FileNotFoundError) or "NoSuchKey" in text or "Path does not exist" in text:
        why = "no such object"
    elif "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        why = "no such bucket"
    elif "NETWORK_CONNECTION" in text or "curlCode" in text:
        # Checked before access: a connect failure names the endpoint, whose port may contain "403".
        why = f"the object store{where} does not answer"
    elif any(s in text for s in ("AccessDenied", "ACCESS_DENIED", "InvalidAccessKeyId", "SignatureDoesNotMatch")) or (
        re.search(r"(?<![\w:.])403(?![\w.])", text)
    ):
        why = "access denied (check the object_store access key references)"
    elif any(s in text.lower() for s in ("connect", "timed out", "timeout", "unreachable", "curl")):
        why = f"the object store{where} does not answer"
    else:
        first = text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
        why = f"{type(exc).__name__}: {first}"
    return ObjectStoreError(f"{uri}: {why}")


__all__ = [
    "SCHEME",
    "Credentials",
    "ObjectStore",
    "ObjectStoreConfig",
    "aws_environment",
    "credentials",
    "describe_error",
    "environment_for",
    "is_uri",
    "s3_filesystem",
    "split_uri",
]

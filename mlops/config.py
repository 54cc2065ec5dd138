"""Typed configuration, checked at the edge.

Every YAML file under ``config/`` and every dataset config has a pydantic model here with
``extra="forbid"``. Loading goes through :func:`load_model`, which turns any problem into a
:class:`~mlops.errors.ConfigError` naming the file, the dotted key and what was expected.
Environment overlays (``config/environments/<env>.yaml``) are deep-merged over the base
``config/platform.yaml`` before validation, so an overlay holds only the keys that differ.
"""

from __future__ import annotations

import itertools
import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from mlops.delimited import codec_name
from mlops.errors import ConfigError

# Every environment a platform config overlay exists for. CLUSTER_ENVIRONMENTS are those the
# Helm charts have values-<env>.yaml for (alert rules, workload charts); `local-stack` has none:
# it is the cluster's data plane run as local processes (`make up`).
ENVIRONMENTS = ("dev", "local-stack", "staging", "prod")
CLUSTER_ENVIRONMENTS = ("dev", "staging", "prod")
SECRET_SCHEMES = ("env://", "file://", "vault://")


class StrictModel(BaseModel):
    """Base for every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_secret_ref(value: str) -> str:
    if not value.startswith(SECRET_SCHEMES):
        raise ValueError(
            "a secret reference (env://NAME, file://PATH or vault://MOUNT/PATH#KEY), never a literal secret value"
        )
    return value


# --------------------------------------------------------------------------- dataset
class PiiHash(StrictModel):
    """Keyed hash (HMAC-SHA256 with ``privacy.hash_key``): equal values stay joinable."""

    action: Literal["hash"]


class PiiMask(StrictModel):
    """Every character but the last ``keep_last`` becomes ``*``."""

    action: Literal["mask"]
    keep_last: int = Field(default=0, ge=0)


class PiiDrop(StrictModel):
    """The column is removed."""

    action: Literal["drop"]


class PiiGeneralise(StrictModel):
    """Coarser values; the option used depends on the column's type, known only from the data.

    Numbers become ``bucket``-wide ranges, timestamps their ``period``, text its first
    ``prefix`` characters.
    """

    action: Literal["generalise"]
    bucket: float | None = Field(default=None, gt=0)
    period: Literal["month", "year"] | None = None
    prefix: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_option(self) -> PiiGeneralise:
        if self.bucket is None and self.period is None and self.prefix is None:
            raise ValueError("generalise needs bucket (numbers), period (timestamps) or prefix (text)")
        return self


class PiiRedact(StrictModel):
    """Free text keeps its words; e-mails, phone numbers and long digit runs become placeholders."""

    action: Literal["redact"]


PII_ACTIONS: dict[str, type[StrictModel]] = {
    "hash": PiiHash,
    "mask": PiiMask,
    "drop": PiiDrop,
    "generalise": PiiGeneralise,
    "redact": PiiRedact,
}


def _pii_error(err: ErrorDetails, value: Any) -> InitErrorDetails:
    """One error of a PII policy, located by the column's own keys (see :data:`PiiColumn`)."""
    loc, action = err["loc"], value.get("action") if isinstance(value, dict) else None
    if loc and loc[0] == action and action in PII_ACTIONS:
        loc = loc[1:]  # pydantic puts the union's tag in the path: pii.email.hash.keep_last
        if err["type"] == "extra_forbidden":
            options = [f for f in PII_ACTIONS[action].model_fields if f != "action"]
            takes = f"which takes {', '.join(options)}" if options else "which takes no options"
            message = f"not an option of action '{action}', {takes}"
            return {"type": PydanticCustomError("pii_option", message), "loc": loc, "input": err["input"]}
    elif err["type"] == "union_tag_invalid":
        expected = ", ".join(f"'{a}'" for a in PII_ACTIONS)
        message = f"Input should be one of {expected}"
        return {"type": PydanticCustomError("literal_error", message), "loc": ("action",), "input": action}
    elif err["type"] == "union_tag_not_found" and isinstance(value, dict):
        return {"type": PydanticCustomError("missing", "Field required"), "loc": ("action",), "input": value}
    elif not isinstance(value, dict):
        message = "Input should be a mapping with an action, such as {action: hash}"
        return {"type": PydanticCustomError(err["type"], message), "loc": loc, "input": value}
    return {"type": PydanticCustomError(err["type"], err["msg"]), "loc": loc, "input": err["input"]}


def _pii_errors(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(exc.title, [_pii_error(e, value) for e in exc.errors()]) from None


# How one PII column is anonymised before anything is stored downstream: one model per
# action, chosen by ``action``, so an option of another action is an error naming its key.
PiiColumn = Annotated[
    PiiHash | PiiMask | PiiDrop | PiiGeneralise | PiiRedact,
    Field(discriminator="action"),
    WrapValidator(_pii_errors),
]


class SensitiveAttribute(StrictModel):
    """A sensitive attribute the fairness gate assesses (never a model input).

    Text attributes are grouped by value. Numeric ones (age, income) are grouped into bins:
    ``bins`` gives the inner edges (``[25, 40, 60]``: four groups), or a number of quantile
    bins; left out, quantile bins are chosen from the data (see mlops.datasets).
    """

    column: str = Field(min_length=1)
    bins: list[float] | int | None = None

    @field_validator("bins")
    @classmethod
    def _sane_bins(cls, v: list[float] | int | None) -> list[float] | int | None:
        if isinstance(v, int) and not 2 <= v <= 20:
            raise ValueError("a number of quantile bins from 2 to 20, or a list of increasing edges")
        if isinstance(v, list):
            if not v or any(b <= a for a, b in itertools.pairwise(v)):
                raise ValueError("a non-empty list of strictly increasing bin edges")
            if any(x != x or x in (float("inf"), float("-inf")) for x in v):
                raise ValueError("finite bin edges")
        return v


class SyntheticSpec(StrictModel):
    """Generate the dataset file when it is missing (the bundled sample)."""

    generator: Literal["credit_risk"] = "credit_risk"
    rows: int = Field(default=50_000, ge=100)
    seed: int = 7


def _location(value: Any) -> Any:
    """A local path, or an ``s3://bucket/key`` URI kept as text (``Path`` would fold its ``//``)."""
    if isinstance(value, str) and "://" in value:
        if not value.startswith("s3://"):
            raise ValueError(f"a local path or an s3://BUCKET/KEY URI, got {value[:80]!r}")
        from mlops.object_store import split_uri

        split_uri(value)
        return value
    if isinstance(value, str) and value:
        return Path(value)
    if isinstance(value, Path):
        return value
    raise ValueError("a local path or an s3://BUCKET/KEY URI")


# A dataset file: a local ``Path``, or an ``s3://`` URI read through the platform's object_store.
# A plain validator: a union would turn the URI back into a Path when the config is re-read from JSON.
DataLocation = Annotated[Path | str, PlainValidator(_location)]


class DatasetConfig(StrictModel):
    """A dataset to train on: ``mlops run training --dataset my.yaml``.

    Relative paths are resolved against the folder of the YAML file. ``path`` may be an
    ``s3://bucket/key`` URI (read with the platform config's ``object_store`` credentials).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,62}$")
    path: DataLocation
    format: Literal["csv", "parquet"] | None = None
    target: str
    # The label the model predicts (encoded as 1). Needed unless the target's two labels are 0/1
    # or false/true; the other label is the negative class. A list names the variants one class
    # is written as (">50K" and ">50K."); with more than two labels, negative_label lists the
    # other class's and a label in neither list is an error.
    positive_label: str | int | float | bool | list[str | int | float | bool] | None = None
    negative_label: str | int | float | bool | list[str | int | float | bool] | None = None
    entity_id: str | None = None
    # The column naming the data subject, checked against the consent store (default: entity_id).
    subject_id: str | None = None
    event_timestamp: str | None = None
    pii: dict[str, PiiColumn] = Field(default_factory=dict)
    sensitive_attributes: list[str | SensitiveAttribute] = Field(default_factory=list)
    categorical: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    # Features kept although they look like identifiers or have very many categories.
    include: list[str] = Field(default_factory=list)
    # Text columns with more distinct values than this are left out of the features (unless
    # listed in `include`): one-hot encoding them would add a column per value.
    max_categories: int = Field(default=200, ge=2)
    # CSV fields read as missing besides pandas' own (empty, NA, NaN, null, ...): the placeholders
    # a file uses for "unknown", such as "?" or "-". Without them a numeric column holding one is
    # read as text.
    na_values: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=100)
    # The CSV field delimiter; None: told from the header line (mlops.delimited).
    delimiter: Literal[",", ";", "\t", "|"] | None = None
    # The CSV's text encoding, a Python codec name: cp1252 is what Windows spreadsheets save as
    # "CSV", latin-1 (iso8859-1) older exports. Batch inputs for its models are read alike.
    encoding: str = Field(default="utf-8", max_length=40)
    # The CSV's decimal mark: "," where numbers are written 1,5 (their fields are then split at
    # ";"). Without it such a column is read as text. Thousands separators are not read.
    decimal: Literal[".", ","] = "."
    expectation_suite: Path | None = None
    synthetic: SyntheticSpec | None = None
    # What the data is; shown on the model card.
    description: str = ""
    # What models trained on it are for, and where they must not be used (model card).
    intended_use: str | None = None
    limitations: list[str] = Field(default_factory=list)

    @field_validator("limitations", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            return codec_name(v)
        except LookupError:
            raise ValueError(f"{v!r} is not a text encoding Python knows (utf-8, cp1252, latin-1, ...)") from None

    @model_validator(mode="after")
    def _columns_distinct(self) -> DatasetConfig:
        roles = {"target": self.target, "entity_id": self.entity_id, "event_timestamp": self.event_timestamp}
        used = {v: k for k, v in roles.items() if v}
        for col in self.pii:
            if col in used:
                raise ValueError(f"column {col!r} is both PII and the {used[col]}")
        if self.subject_id is not None and self.subject_id in (self.target, self.event_timestamp):
            raise ValueError(f"subject_id {self.subject_id!r} is also the {used[self.subject_id]}")
        sensitive = self.sensitive_columns
        for col in sensitive:
            if col in used:
                raise ValueError(f"column {col!r} is both a sensitive attribute and the {used[col]}")
            if col in self.pii:
                raise ValueError(f"column {col!r} is both a sensitive attribute and PII")
        if len(set(sensitive)) != len(sensitive):
            raise ValueError("each sensitive attribute once")
        clash = set(self.include) & set(self.exclude)
        if clash:
            raise ValueError(f"columns both in include and exclude: {', '.join(sorted(clash))}")
        for col in self.include:
            if col in used or col in self.pii or col in sensitive:
                raise ValueError(f"include names {col!r}, which is not a feature (PII, sensitive or a key column)")
        positives, negatives = self.label_variants
        if isinstance(self.positive_label, list) and not positives:
            raise ValueError("positive_label: an empty list names no label")
        if isinstance(self.negative_label, list) and not negatives:
            raise ValueError("negative_label: an empty list names no label")
        if negatives and not positives:
            raise ValueError("negative_label needs positive_label: the class the model predicts")
        both = {str(v).strip() for v in positives} & {str(v).strip() for v in negatives}
        if both:
            raise ValueError(f"labels both positive and negative: {', '.join(sorted(both))}")
        if self.na_values and self.file_format != "csv":
            raise ValueError("na_values applies to CSV files: a parquet file's columns carry their own missing values")
        if self.delimiter is not None and self.file_format != "csv":
            raise ValueError("delimiter applies to CSV files: a parquet file has columns, not delimited fields")
        if self.file_format != "csv" and (self.encoding != "utf-8" or self.decimal != "."):
            raise ValueError("encoding and decimal apply to CSV files: a parquet file's columns are typed")
        if self.decimal == self.delimiter:
            raise ValueError("decimal ',' needs fields split at another delimiter (`delimiter: \";\"`)")
        return self

    @property
    def label_variants(self) -> tuple[list[str | int | float | bool], list[str | int | float | bool]]:
        """``positive_label`` and ``negative_label`` as lists (empty: not configured)."""

        def listed(value: Any) -> list[str | int | float | bool]:
            return [] if value is None else list(value) if isinstance(value, list) else [value]

        return listed(self.positive_label), listed(self.negative_label)

    @property
    def sensitive_columns(self) -> list[str]:
        return [a if isinstance(a, str) else a.column for a in self.sensitive_attributes]

    @property
    def sensitive_bins(self) -> dict[str, list[float] | int | None]:
        """Per sensitive attribute, the configured bins (None: chosen from the data when numeric)."""
        return {
            a if isinstance(a, str) else a.column: None if isinstance(a, str) else a.bins
            for a in self.sensitive_attributes
        }

    @property
    def subject_column(self) -> str | None:
        """The column naming each row's data subject: ``subject_id``, else ``entity_id``."""
        return self.subject_id or self.entity_id

    @property
    def remote(self) -> bool:
        """Whether ``path`` is an ``s3://`` URI."""
        return isinstance(self.path, str)

    @property
    def file_name(self) -> str:
        """The last part of ``path`` (a URI's key included)."""
        return self.path.rpartition("/")[2] if isinstance(self.path, str) else self.path.name

    @property
    def file_format(self) -> Literal["csv", "parquet"]:
        if self.format:
            return self.format
        suffix = Path(self.file_name).suffix.lower()
        return "csv" if suffix in {".csv", ".gz"} else "parquet"

    def resolved(self, base_dir: Path) -> DatasetConfig:
        """Copy with a local ``path`` and ``expectation_suite`` made absolute against ``base_dir``
        (a URI stays as it is)."""
        update: dict[str, Any] = {}
        if isinstance(self.path, Path):
            update["path"] = (base_dir / self.path).resolve()
        if self.expectation_suite is not None:
            update["expectation_suite"] = (base_dir / self.expectation_suite).resolve()
        return self.model_copy(update=update)


# --------------------------------------------------------------------------- secrets / Vault
def _check_local_ref(value: str) -> str:
    # Vault credentials cannot come from Vault itself, and are never written in YAML.
    if not value.startswith(("env://", "file://")):
        raise ValueError("an env://NAME or file://PATH reference (never a literal, never vault://)")
    return value


class TokenAuthConfig(StrictModel):
    """A token read from the environment or from a file (e.g. a Vault Agent token sink)."""

    type: Literal["token"] = "token"
    token: str = "env://VAULT_TOKEN"

    @field_validator("token")
    @classmethod
    def _is_local_ref(cls, v: str) -> str:
        return _check_local_ref(v)


class AppRoleAuthConfig(StrictModel):
    """AppRole login: machines outside Kubernetes (CI, batch hosts)."""

    type: Literal["approle"] = "approle"
    role_id: str
    secret_id: str
    mount_point: str = "approle"

    @field_validator("role_id", "secret_id")
    @classmethod
    def _is_local_ref(cls, v: str) -> str:
        return _check_local_ref(v)


class KubernetesAuthConfig(StrictModel):
    """Kubernetes login with the pod's service-account token (the role is not a secret)."""

    type: Literal["kubernetes"] = "kubernetes"
    role: str = Field(min_length=1)
    token_path: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    mount_point: str = "kubernetes"


VaultAuthConfig = Annotated[TokenAuthConfig | AppRoleAuthConfig | KubernetesAuthConfig, Field(discriminator="type")]


class VaultConfig(StrictModel):
    """How ``vault://`` references are resolved (the VAULT_ADDR / VAULT_TOKEN variables win)."""

    # None: the VAULT_ADDR environment variable; without either, vault:// references fail.
    address: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    auth: VaultAuthConfig = TokenAuthConfig()
    namespace: str | None = None
    # A CA bundle for a private PKI; None: the system trust store.
    ca_cert: Path | None = None
    # Bounded so a down or unreachable Vault fails a step in seconds instead of hanging it.
    connect_timeout_s: float = Field(default=2.0, gt=0, le=30)
    read_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Values are cached per reference this long (0: no cache); rotation reaches readers after it.
    cache_ttl_s: float = Field(default=300.0, ge=0)


# --------------------------------------------------------------------------- secrets policy
SecretAlphabet = Literal["hex", "alphanumeric", "urlsafe"]


class RotationRule(StrictModel):
    """Maximum age of a KV v2 secret's current version, and the shape of a rotated value."""

    max_age_days: float = Field(ge=0)
    length: int = Field(default=48, ge=16, le=4096)
    alphabet: SecretAlphabet = "alphanumeric"  # pragma: allowlist secret


class PathRotationRule(RotationRule):
    # A glob over MOUNT/PATH (fnmatch: `*` also crosses `/`), e.g. "secret/mlops/*/privacy".
    path: str = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _no_scheme(cls, v: str) -> str:
        if "://" in v or "#" in v:
            raise ValueError("a MOUNT/PATH glob such as 'secret/mlops/*/privacy' (no scheme, no #key)")
        return v


class SecretsPolicyConfig(StrictModel):
    """``config/secrets_policy.yaml``: rotation policy for the secrets `mlops secrets audit` checks."""

    default: RotationRule
    # The first rule whose path matches decides; otherwise `default`.
    rules: list[PathRotationRule] = Field(default_factory=list)
    # Secrets not referenced from platform.yaml (read by Vault Agent templates, Helm values…);
    # "{environment}" is replaced by the audited environment.
    references: list[str] = Field(default_factory=list)

    @field_validator("references")
    @classmethod
    def _are_references(cls, v: list[str]) -> list[str]:
        for ref in v:
            check_secret_ref(ref)
        return v

    def rule_for(self, path: str) -> RotationRule:
        """The rule for the secret at ``MOUNT/PATH``."""
        for rule in self.rules:
            if fnmatchcase(path, rule.path):
                return rule
        return self.default


M = TypeVar("M", bound=BaseModel)


# Anchors and aliases share one node, so a few hundred bytes of YAML can stand for billions of
# values once anything walks the value (validation, error messages). Config files need far fewer.
MAX_YAML_NODES = 100_000
# Longest value, key part or message piece an error shows: errors echo input, never all of it.
_SHOWN = 60


class _AliasBomb(yaml.YAMLError):
    """A document whose aliases expand past MAX_YAML_NODES nodes, or that refers to itself."""

    def __init__(self, key: str, why: str, mark: yaml.Mark | None) -> None:
        super().__init__(why)
        self.key = key
        self.why = why
        self.mark = mark


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _expanded_sizes(root: yaml.Node, sizes: dict[int, int], limit: int) -> int:
    """Nodes under ``root`` with every alias counted at each use (memoised in ``sizes``).

    Iterative, so deep documents cannot exhaust the stack here; stops as soon as a node
    expands past ``limit`` or refers to itself.
    """
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            on_path.discard(id(node))
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[id(node)] = total
            if total > limit:
                raise _AliasBomb("", f"its anchors and aliases expand to more than {limit:,} values", node.start_mark)
            continue
        if id(node) in sizes:
            continue
        if id(node) in on_path:
            raise _AliasBomb("", "an alias refers to itself (a recursive value)", node.start_mark)
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents whose aliases expand past MAX_YAML_NODES values.

    The check runs on the composed node graph, before any Python value is built, so neither
    construction (``<<`` merges copy pairs) nor validation ever sees the expanded document.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        sizes: dict[int, int] = {}
        if isinstance(node, yaml.MappingNode):
            # Per top-level key, so the error can name the key that holds the bomb.
            total = 1
            for key_node, value_node in node.value:
                key = str(key_node.value)[:_SHOWN] if isinstance(key_node, yaml.ScalarNode) else ""
                try:
                    total += _expanded_sizes(key_node, sizes, MAX_YAML_NODES)
                    total += _expanded_sizes(value_node, sizes, MAX_YAML_NODES)
                except _AliasBomb as exc:
                    raise _AliasBomb(key, exc.why, exc.mark) from None
                if total > MAX_YAML_NODES:
                    raise _AliasBomb(key, f"the document expands to more than {MAX_YAML_NODES:,} values", None)
        else:
            _expanded_sizes(node, sizes, MAX_YAML_NODES)
        return super().construct_document(node)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # Remembered so a value that cannot be built (ValueError) can be located.
        self.last_node = node
        return super().construct_object(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, a syntax error or a non-mapping is a ConfigError.

    Loaded with :class:`BoundedSafeLoader`: alias bombs and self-referring values are refused.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(path, "", "the file to exist") from None
    except OSError as exc:
        raise ConfigError(path, "", f"a readable file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "", "UTF-8 text") from None
    loader = BoundedSafeLoader(text)
    try:
        data = loader.get_single_data()
    except _AliasBomb as exc:
        line = f" (line {exc.mark.line + 1})" if exc.mark else ""
        raise ConfigError(path, exc.key, f"refused: {exc.why}{line}; write the value out without aliases") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(path, "", f"valid YAML{where}") from None
    except RecursionError:
        raise ConfigError(path, "", "valid YAML nested at most a few hundred levels deep") from None
    except ValueError:
        # A scalar PyYAML types but cannot build, such as the date 2024-13-45.
        node = getattr(loader, "last_node", None)
        where = f" (line {node.start_mark.line + 1})" if node is not None else ""
        raise ConfigError(path, "", f"valid YAML{where}: a value that looks like a date or number is not one") from None
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"a mapping at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``overlay`` merged in; nested mappings merge, other values replace."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _preview(value: Any, limit: int = _SHOWN) -> str:
    """At most ``limit`` characters of ``value`` written as JSON, the rest never rendered.

    Input echoed in an error may be huge, or small in memory and huge when written out (shared
    lists), so the walk stops as soon as ``limit`` characters are out.
    """
    parts: list[str] = []
    room = limit + 1  # one more than shown, so a cut can be marked

    def emit(text: str) -> None:
        nonlocal room
        parts.append(text[: max(room, 0)])
        room -= len(text)

    def walk(v: Any) -> None:
        if room <= 0:
            return
        if isinstance(v, dict):
            emit("{")
            for i, (k, item) in enumerate(v.items()):
                if room <= 0:
                    return
                emit((", " if i else "") + json.dumps(str(k)[:room]) + ": ")
                walk(item)
            emit("}")
        elif isinstance(v, list | tuple | set | frozenset):
            emit("[")
            for i, item in enumerate(v):
                if room <= 0:
                    return
                if i:
                    emit(", ")
                walk(item)
            emit("]")
        elif isinstance(v, bool | float) or v is None:
            emit(json.dumps(v))
        elif isinstance(v, int):
            emit(str(v) if v.bit_length() < 200 else "a very large integer")
        elif isinstance(v, str | bytes):
            emit(json.dumps(v[:room] if isinstance(v, str) else v[:room].decode(errors="replace")))
        else:
            emit(json.dumps(str(v)[:room]))

    walk(value)
    shown = "".join(parts)
    return shown if room > 0 else shown[:limit] + "…"


def validation_to_config_error(path: Path, exc: ValidationError) -> ConfigError:
    """Turn the first pydantic error into a ConfigError (up to three others are appended).

    Keys, messages and the offending input are cut to a bounded length: an error never
    writes out a whole value.
    """
    messages = []
    for err in exc.errors(include_url=False)[:4]:
        key = ".".join(str(p) if len(str(p)) <= _SHOWN else str(p)[: _SHOWN - 1] + "…" for p in err["loc"])
        if err["type"] == "extra_forbidden":
            what = "no such key (unknown keys are not allowed)"
        elif err["type"] == "missing":
            what = "a value (this key is required)"
        else:
            got = err.get("input")
            shown = _preview(got) if not isinstance(got, dict) else "a mapping"
            what = f"{err['msg'].removeprefix('Value error, ')[:200]} (got {shown})"
        messages.append((key, what))
    key, what = messages[0]
    if len(messages) > 1:
        what += "; also " + "; ".join(f"{k}: {w}" for k, w in messages[1:])
    return ConfigError(path, key, what)


def load_model(path: Path, model: type[M], data: dict[str, Any] | None = None) -> M:
    """Validate ``data`` (or the YAML at ``path``) as ``model``; errors name file and key."""
    raw = read_yaml(path) if data is None else data
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_to_config_error(path, exc) from None


# How many `base:` links one dataset config may follow (a loop is an error, not a hang).
MAX_DATASET_BASES = 5


def load_dataset_config(path: Path, *, _depth: int = 0) -> DatasetConfig:
    """A dataset YAML with its relative paths resolved against the YAML's folder.

    ``base: other.yaml`` makes the file a small overlay: the base config (its paths resolved
    against its own folder) with this file's keys merged over it, e.g. the local stack's
    ``path: s3://…`` over the bundled sample's config, without copying the rest.
    """
    raw = read_yaml(path)
    base = raw.pop("base", None)
    if base is None:
        return load_model(path, DatasetConfig, raw).resolved(path.parent)
    if not isinstance(base, str) or not base:
        raise ConfigError(path, "base", f"the path of another dataset config, relative to {path.parent}")
    if _depth >= MAX_DATASET_BASES:
        raise ConfigError(path, "base", f"at most {MAX_DATASET_BASES} nested bases (is there a loop?)")
    base_path = path.parent / base
    if not base_path.is_file():
        raise ConfigError(path, "base", f"an existing dataset config ({base_path} does not exist)")
    parent = load_dataset_config(base_path, _depth=_depth + 1)
    merged = deep_merge(parent.model_dump(mode="json", exclude_defaults=True), raw)
    return load_model(path, DatasetConfig, merged).resolved(path.parent)

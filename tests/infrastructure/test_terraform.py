"""Terraform under infrastructure/terraform: structure, hardening, offline validation.

No provider can be downloaded here, so provider-backed modules are checked by parsing them
(python-hcl2). The terraform-fmt check of ``make validate-infra`` (:mod:`infrastructure.validation`)
runs the real ``terraform`` binary: ``fmt -check`` on every file, and init, validate and
``terraform test`` on the provider-less cost-tags module. checkov runs in ``make validate-infra``;
here every skip is checked against the reviewed list.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from infrastructure.validation import Context, Layout, MissingToolError
from infrastructure.validation.checks.terraform import check_terraform, hcl_loads, provider_needs

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "infrastructure" / "terraform"
MODULES = TF / "modules"
LIVE = TF / "live"
# Vault's configuration: its own root, applied once Vault runs in the cluster live/ builds.
LIVE_VAULT = TF / "live-vault"
ENV_DIR = LIVE / "environments"
ENVS = tuple(sorted(p.name for p in ENV_DIR.iterdir() if p.is_dir()))
POLICY_DIR = REPO / "secrets" / "vault" / "policies"
HELM = REPO / "infrastructure" / "helm"

# AWS resource types that take no tags (everything else must carry the cost tags explicitly,
# in addition to the provider's default_tags).
NON_TAGGABLE = {
    "aws_route",
    "aws_route_table_association",
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_kms_alias",
    "aws_eks_access_policy_association",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_logging",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_object_lock_configuration",
}


# --------------------------------------------------------------------------- HCL access
# Two distributions install a module named `hcl2` (python-hcl2 and checkov's fork); they
# differ in shape: the fork wraps every attribute value in a one-element list, python-hcl2
# keeps the quotes of labels and strings. These helpers read either.
WRAPPED = hcl2.loads('a = "x"\n')["a"] == ["x"]


def _clean(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if not str(k).startswith("__")}
    return value


def attr(body: dict[str, Any], name: str, default: Any = None) -> Any:
    """An attribute's value (strings unquoted; expressions stay ``${...}``)."""
    if name not in body:
        return default
    value = body[name]
    if WRAPPED and isinstance(value, list) and len(value) == 1:
        value = value[0]
    return _clean(value)


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The nested blocks called ``name``."""
    found = body.get(name, [])
    return [b for b in (found if isinstance(found, list) else [found]) if isinstance(b, dict)]


def labelled(body: dict[str, Any], name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, body) of each one-label block (module, variable, output, provider, backend)."""
    for block in blocks(body, name):
        for label, inner in block.items():
            if not str(label).startswith("__"):
                yield _clean(label), inner


def typed(body: dict[str, Any], name: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of each two-label block (resource, data)."""
    for block in blocks(body, name):
        for rtype, named in block.items():
            if str(rtype).startswith("__"):
                continue
            for rname, inner in named.items():
                if not str(rname).startswith("__"):
                    yield _clean(rtype), _clean(rname), inner


@cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        return hcl2.load(fh)


def module_dir(name: str) -> Path:
    return MODULES / name


def tf_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.tf"))


def all_tf_files() -> list[Path]:
    return sorted(TF.rglob("*.tf"))


def resources(directory: Path) -> list[tuple[str, str, dict[str, Any], Path]]:
    return [(t, n, b, f) for f in tf_files(directory) for t, n, b in typed(parse(f), "resource")]


def resource(directory: Path, rtype: str, name: str) -> dict[str, Any]:
    for t, n, body, _ in resources(directory):
        if (t, n) == (rtype, name):
            return body
    raise AssertionError(f"{directory.relative_to(REPO)} has no {rtype}.{name}")


def locals_of(directory: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for f in tf_files(directory):
        for block in blocks(parse(f), "locals"):
            merged.update({k: attr(block, k) for k in block if not k.startswith("__")})
    return merged


def variables(directory: Path) -> dict[str, dict[str, Any]]:
    return {name: body for f in tf_files(directory) for name, body in labelled(parse(f), "variable")}


def module_calls(directory: Path) -> dict[str, dict[str, Any]]:
    return {name: body for f in tf_files(directory) for name, body in labelled(parse(f), "module")}


# --------------------------------------------------------------------------- terraform binary
def test_fmt_is_clean_and_the_cost_tags_module_validates_and_passes_its_tests(tmp_path: Path) -> None:
    """The validator's terraform-fmt check: ``fmt -check`` over everything, then ``init``,
    ``validate`` and ``terraform test`` on the modules that need no provider, with .terraform/
    in its output folder, never in the repository."""
    cost_tags = module_dir("cost-tags")
    before = sorted(p.name for p in cost_tags.iterdir())
    try:
        result = check_terraform(Context(Layout(REPO, tmp_path / "infra"), kube_version=None))
    except MissingToolError as exc:
        pytest.skip(str(exc))
    assert result.ok, "\n".join(result.failures)
    assert f"{cost_tags.relative_to(REPO)}: init, validate and test passed (no provider needed)" in result.notes
    assert result.counts["tests_passed"] >= 1
    assert sorted(p.name for p in cost_tags.iterdir()) == before, "terraform wrote into the repository"


# --------------------------------------------------------------------------- references
# `terraform validate` needs the providers, which cannot be downloaded here; this catches what
# it would for names: undeclared variables and locals, unknown module inputs and outputs,
# references to resources and data sources that do not exist.
META_ARGUMENTS = {"source", "count", "for_each", "providers", "depends_on", "version"}
REFERENCE = {
    "var": re.compile(r"\bvar\.([A-Za-z_][\w-]*)"),
    "local": re.compile(r"\blocal\.([A-Za-z_][\w-]*)"),
    "module": re.compile(r"\bmodule\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.([A-Za-z_][\w-]*)"),
    "data": re.compile(r"\bdata\.([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)"),
    "resource": re.compile(r"(?<![\w.\"/-])((?:aws|vault)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"),
}


def code(directory: Path) -> str:
    """The module's text without comments."""
    lines = []
    for f in tf_files(directory):
        for line in f.read_text().splitlines():
            if not line.lstrip().startswith(("#", "//")):
                lines.append(line)
    return "\n".join(lines)


def outputs(directory: Path) -> set[str]:
    return {name for f in tf_files(directory) for name, _ in labelled(parse(f), "output")}


def terraform_roots() -> list[Path]:
    return [d for d in sorted(MODULES.iterdir()) if d.is_dir()] + [LIVE, LIVE_VAULT]


def test_every_reference_resolves() -> None:
    problems: list[str] = []
    for directory in terraform_roots():
        where = directory.relative_to(TF)
        text = code(directory)
        declared_vars = set(variables(directory))
        declared_locals = set(locals_of(directory))
        calls = module_calls(directory)
        managed = {(t, n) for t, n, _, _ in resources(directory)}
        data = {(t, n) for f in tf_files(directory) for t, n, _ in typed(parse(f), "data")}
        problems += [f"{where}: var.{v} is not declared" for v in set(REFERENCE["var"].findall(text)) - declared_vars]
        problems += [
            f"{where}: local.{v} is not defined" for v in set(REFERENCE["local"].findall(text)) - declared_locals
        ]
        problems += [f"{where}: data.{t}.{n} does not exist" for t, n in set(REFERENCE["data"].findall(text)) - data]
        resource_refs = {(t, n) for t, n in REFERENCE["resource"].findall(text) if not t.endswith("_")}
        problems += [f"{where}: {t}.{n} does not exist" for t, n in resource_refs - managed - data]
        for name, output in set(REFERENCE["module"].findall(text)):
            if name not in calls:
                problems.append(f"{where}: module.{name} is not called")
                continue
            callee = (directory / attr(calls[name], "source")).resolve()
            if output not in outputs(callee):
                problems.append(f"{where}: module.{name} has no output {output}")
        for name, body in calls.items():
            callee = (directory / attr(body, "source")).resolve()
            accepted = variables(callee)
            given = {k for k in body if not k.startswith("__")} - META_ARGUMENTS
            problems += [f"{where}: module.{name} has no variable {k}" for k in sorted(given - set(accepted))]
            required = {v for v, spec in accepted.items() if "default" not in spec}
            problems += [f"{where}: module.{name} needs {k}" for k in sorted(required - given)]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- versions
def test_every_module_and_environment_pins_terraform_and_providers() -> None:
    for directory in terraform_roots():
        settings = [b for f in tf_files(directory) for b in blocks(parse(f), "terraform")]
        assert any(attr(b, "required_version") for b in settings), f"{directory.name}: no required_version"
        declared: dict[str, dict[str, Any]] = {}
        for b in settings:
            for providers in blocks(b, "required_providers"):
                declared.update({k: attr(providers, k) for k in providers if not k.startswith("__")})
        used = {t.split("_")[0] for t, *_ in resources(directory)}
        used |= {t.split("_")[0] for f in tf_files(directory) for t, *_ in typed(parse(f), "data")}
        for provider in used:
            assert provider in declared, f"{directory.name}: provider {provider} not in required_providers"
        for name, spec in declared.items():
            assert spec["source"] == f"hashicorp/{name}", f"{directory.name}: {name} source {spec['source']}"
            assert re.search(r"\d", spec.get("version", "")), f"{directory.name}: {name} has no version constraint"
    for name, spec in [
        (k, attr(p, k))
        for f in tf_files(LIVE) + tf_files(LIVE_VAULT)
        for b in blocks(parse(f), "terraform")
        for p in blocks(b, "required_providers")
        for k in p
        if not k.startswith("__")
    ]:
        assert spec["version"].startswith("~>"), f"live: {name} must be pinned to a major version with ~>"


def test_cost_tags_module_has_no_provider() -> None:
    directory = module_dir("cost-tags")
    assert not resources(directory)
    text = "\n".join(f.read_text() for f in tf_files(directory))
    assert "required_providers" not in text
    assert "yamldecode(file(" in text
    assert "config/cost_optimization.yaml" in text


# --------------------------------------------------------------------------- live environments
def test_environments_are_overlays_of_one_composition() -> None:
    assert set(ENVS) == {"dev", "staging", "prod"}
    leftovers = sorted(p.name for p in LIVE.iterdir() if p.is_dir() and p != ENV_DIR and p.name != ".terraform")
    assert not leftovers, f"live/ holds per-environment copies: {leftovers}"
    for env in ENVS:
        files = {p.name for p in (ENV_DIR / env).iterdir() if not p.name.startswith(".")}
        assert files == {"backend.hcl", "terraform.tfvars"}, f"live/environments/{env}: {files}"
    assert not list(ENV_DIR.rglob("*.tf")), "environment directories hold values, not Terraform code"
    assert {p.name for p in tf_files(LIVE)} == {"backend.tf", "main.tf", "outputs.tf", "variables.tf", "versions.tf"}
    for f in tf_files(LIVE):
        assert not list(typed(parse(f), "resource")), f"live/{f.name} declares resources (put them in a module)"
        assert not list(typed(parse(f), "data")), f"live/{f.name} reads data sources (put them in a module)"
    calls = module_calls(LIVE)
    assert {name: attr(body, "source") for name, body in calls.items()} == {
        "cost_tags": "../modules/cost-tags",
        "platform": "../modules/platform",
    }


def test_every_environment_builds_the_same_modules() -> None:
    platform = module_calls(module_dir("platform"))
    sources = {attr(body, "source") for body in platform.values()}
    expected = {"../network", "../kubernetes-cluster", "../object-storage", "../postgres", "../workloads"}
    assert expected <= sources
    for source in sources:
        assert (module_dir("platform") / source).resolve().is_dir(), source


def test_tfvars_set_the_same_variables_and_name_their_environment() -> None:
    declared = variables(LIVE)
    required = {name for name, body in declared.items() if "default" not in body}
    keys: dict[str, set[str]] = {}
    for env in ENVS:
        values = hcl2.loads((ENV_DIR / env / "terraform.tfvars").read_text())
        keys[env] = set(values)
        assert attr(values, "environment") == env
        assert required <= keys[env], f"{env}: missing {sorted(required - keys[env])}"
        assert keys[env] <= set(declared), f"{env}: unknown {sorted(keys[env] - set(declared))}"
        assert len(keys[env]) <= 16, f"environments/{env}/terraform.tfvars should stay a handful of values"
    assert all(k == keys["dev"] for k in keys.values()), keys
    prod = hcl2.loads((ENV_DIR / "prod" / "terraform.tfvars").read_text())
    assert attr(prod, "db_multi_az") is True
    assert attr(prod, "single_nat_gateway") is False
    cidrs = {attr(hcl2.loads((ENV_DIR / env / "terraform.tfvars").read_text()), "vpc_cidr") for env in ENVS}
    assert len(cidrs) == len(ENVS), "environments need distinct VPC CIDRs"


def test_state_is_remote_encrypted_and_locked_per_environment() -> None:
    # One partial s3 backend; what is common to every environment is fixed in it, so no
    # environment can drop encryption or locking.
    backends = [
        (kind, body) for b in blocks(parse(LIVE / "backend.tf"), "terraform") for kind, body in labelled(b, "backend")
    ]
    assert [kind for kind, _ in backends] == ["s3"], backends
    common = backends[0][1]
    assert attr(common, "encrypt") is True
    assert attr(common, "use_lockfile") is True or attr(common, "dynamodb_table"), "no state locking"
    assert not {"bucket", "key", "region"} & set(common), "the state location belongs in environments/<env>/backend.hcl"
    seen: set[tuple[str, str]] = set()
    for env in ENVS:
        parsed = hcl2.loads((ENV_DIR / env / "backend.hcl").read_text())
        settings = {k: v for k, v in parsed.items() if not k.startswith("__")}
        assert set(settings) == {"bucket", "key", "region"}, f"{env}/backend.hcl: {sorted(settings)}"
        location = (attr(settings, "bucket"), attr(settings, "key"))
        assert env in location[0], f"{env}: state bucket {location[0]}"
        assert env in location[1], f"{env}: state key {location[1]}"
        assert location not in seen
        seen.add(location)


def test_aws_provider_tags_everything_with_the_cost_tags() -> None:
    providers = {name: body for f in tf_files(LIVE) for name, body in labelled(parse(f), "provider")}
    assert set(providers) == {"aws"}
    default_tags = blocks(providers["aws"], "default_tags")
    assert len(default_tags) == 1
    assert attr(default_tags[0], "tags") == "${module.cost_tags.tags}"
    calls = module_calls(LIVE)
    assert attr(calls["cost_tags"], "environment") == "${var.environment}"
    assert attr(calls["platform"], "tags") == "${module.cost_tags.tags}"


def test_every_taggable_resource_carries_the_tags_variable() -> None:
    missing: list[str] = []
    for directory in sorted(d for d in MODULES.iterdir() if d.is_dir()):
        for rtype, name, body, _ in resources(directory):
            if rtype.startswith("aws_") and rtype not in NON_TAGGABLE:
                tags = attr(body, "tags")
                if not (isinstance(tags, str) and "var.tags" in tags):
                    missing.append(f"{directory.name}: {rtype}.{name}")
    assert not missing, f"resources without tags = var.tags (or merge(var.tags, …)): {missing}"
    # Instances and volumes started by the node groups' Auto Scaling groups get no default_tags.
    template = resource(module_dir("kubernetes-cluster"), "aws_launch_template", "node")
    dynamic = [b for d in blocks(template, "dynamic") for k, b in d.items() if _clean(k) == "tag_specifications"]
    assert dynamic
    assert {"instance", "volume"} <= set(attr(dynamic[0], "for_each").replace('"', "'").split("'"))


# --------------------------------------------------------------------------- hardening
def test_buckets_have_versioning_kms_encryption_lifecycle_and_no_public_access() -> None:
    directory = module_dir("object-storage")
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for rtype, name, body, _ in resources(directory):
        by_type.setdefault(rtype, []).append((name, body))
    buckets = [name for name, _ in by_type["aws_s3_bucket"]]
    assert sorted(buckets) == ["logs", "this"]
    # The baseline resources iterate over local.all_buckets, which must hold every bucket.
    shared = attr(locals_of(directory), "all_buckets") or ""
    assert all(f"aws_s3_bucket.{bucket}" in shared for bucket in buckets), shared

    def for_bucket(rtype: str, bucket: str) -> dict[str, Any]:
        matches = [
            b
            for _, b in by_type.get(rtype, [])
            if f"aws_s3_bucket.{bucket}" in json.dumps(b) or attr(b, "for_each") == "${local.all_buckets}"
        ]
        assert len(matches) == 1, f"{rtype} for aws_s3_bucket.{bucket}: {len(matches)}"
        return matches[0]

    for bucket in buckets:
        versioning = for_bucket("aws_s3_bucket_versioning", bucket)
        assert attr(blocks(versioning, "versioning_configuration")[0], "status") == "Enabled"
        block = for_bucket("aws_s3_bucket_public_access_block", bucket)
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
            assert attr(block, flag) is True, f"{bucket}: {flag}"
        lifecycle = for_bucket("aws_s3_bucket_lifecycle_configuration", bucket)
        rules = blocks(lifecycle, "rule")
        assert any(blocks(r, "noncurrent_version_expiration") for r in rules), bucket
        assert any(blocks(r, "abort_incomplete_multipart_upload") for r in rules), bucket
        assert attr(for_bucket("aws_s3_bucket_ownership_controls", bucket)["rule"][0], "object_ownership") == (
            "BucketOwnerEnforced"
        )
        for_bucket("aws_s3_bucket_policy", bucket)

    sse = for_bucket("aws_s3_bucket_server_side_encryption_configuration", "this")
    default = blocks(blocks(sse, "rule")[0], "apply_server_side_encryption_by_default")[0]
    assert attr(default, "sse_algorithm") == "aws:kms"
    assert attr(default, "kms_master_key_id") == "${module.key.arn}"
    assert attr(module_calls(directory)["key"], "source") == "../kms-key"
    logging = for_bucket("aws_s3_bucket_logging", "this")
    assert attr(logging, "target_bucket") == "${aws_s3_bucket.logs.id}"

    policies = {name: body for _, name, body in (t for f in tf_files(directory) for t in typed(parse(f), "data"))}
    for name in ("bucket", "logs"):
        statements = blocks(policies[name], "statement")
        for source in attr(policies[name], "source_policy_documents", []):
            included = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\[[^\]]+\]\.json\}", source)
            assert included, f"policy {name}: unexpected source document {source}"
            assert attr(policies[included[1]], "for_each") == "${local.all_buckets}"
            statements += blocks(policies[included[1]], "statement")
        tls = [s for s in statements if attr(s, "sid") == "DenyInsecureTransport"]
        assert tls, f"policy {name}: no TLS-only statement"
        assert attr(tls[0], "effect") == "Deny"
        condition = blocks(tls[0], "condition")[0]
        assert attr(condition, "variable") == "aws:SecureTransport"
        assert attr(condition, "values") == ["false"]


def test_every_kms_key_comes_from_the_kms_key_module_and_rotates() -> None:
    keys = [(d.name, t) for d in MODULES.iterdir() if d.is_dir() for t, *_ in resources(d) if t.startswith("aws_kms_")]
    assert sorted(keys) == [("kms-key", "aws_kms_alias"), ("kms-key", "aws_kms_key")], keys
    key = resource(module_dir("kms-key"), "aws_kms_key", "this")
    assert attr(key, "enable_key_rotation") is True
    assert attr(key, "policy") == "${data.aws_iam_policy_document.this.json}"
    callers = [
        f"{d.name}.{name}"
        for d in sorted(MODULES.iterdir())
        if d.is_dir()
        for name, body in module_calls(d).items()
        if attr(body, "source") == "../kms-key"
    ]
    assert len(callers) >= 5, callers


def test_postgres_is_encrypted_private_protected_and_has_no_password_in_code() -> None:
    directory = module_dir("postgres")
    db = resource(directory, "aws_db_instance", "this")
    assert attr(db, "storage_encrypted") is True
    assert attr(db, "publicly_accessible") is False
    assert attr(db, "iam_database_authentication_enabled") is True
    assert attr(db, "manage_master_user_password") is True
    assert "password" not in db, "the master password is generated and kept by RDS"
    assert attr(db, "deletion_protection") == "${var.deletion_protection}"
    assert attr(db, "multi_az") == "${var.multi_az}"
    assert attr(db, "backup_retention_period") == "${var.backup_retention_days}"
    assert attr(db, "skip_final_snapshot") is False
    assert attr(db, "performance_insights_kms_key_id") == "${module.key.arn}"
    declared = variables(directory)
    assert attr(declared["deletion_protection"], "default") is True
    assert "validation" in declared["backup_retention_days"]
    params = {
        attr(p, "name"): attr(p, "value")
        for p in blocks(resource(directory, "aws_db_parameter_group", "this"), "parameter")
    }
    assert params["rds.force_ssl"] == "1"


def test_no_secret_value_is_written_in_terraform() -> None:
    pattern = re.compile(r'^\s*(password|secret|token|access_key|secret_key)\s*=\s*"', re.IGNORECASE | re.MULTILINE)
    for path in all_tf_files() + sorted(TF.rglob("*.tfvars")):
        assert not pattern.search(path.read_text()), f"{path.relative_to(REPO)} assigns a literal credential"


# --------------------------------------------------------------------------- Vault
def policy_names() -> set[str]:
    return {p.stem for p in POLICY_DIR.glob("*.hcl")}


def workloads() -> dict[str, dict[str, Any]]:
    found = locals_of(module_dir("workloads"))["workloads"]
    return {_clean(name): {k: _clean(v) for k, v in spec.items()} for name, spec in found.items()}


def test_vault_policies_are_loaded_from_the_repository_files() -> None:
    directory = module_dir("vault-config")
    local = locals_of(directory)
    assert "fileset(local.policy_dir" in local["policies"]
    assert "file(" in local["policies"]
    assert "secrets/vault/policies" in local["policy_dir"]
    default_dir = (directory / "../../../../secrets/vault/policies").resolve()
    assert default_dir == POLICY_DIR.resolve()
    assert policy_names()
    copies = [
        p
        for p in TF.rglob("*.hcl")
        if not p.name.endswith((".tftest.hcl", ".terraform.lock.hcl"))
        and p.relative_to(TF).parts[1:2] != ("environments",)
    ]
    assert not copies, f"policy copies under infrastructure/terraform: {copies}"
    mounts = resource(directory, "vault_mount", "kv")
    assert attr(mounts, "type") == "kv"
    assert attr(mounts, "options") == {"version": "2"}
    assert attr(resource(directory, "vault_auth_backend", "kubernetes"), "type") == "kubernetes"
    role = resource(directory, "vault_kubernetes_auth_backend_role", "workload")
    assert attr(role, "bound_service_account_names") == "${each.value.service_accounts}"
    assert attr(role, "bound_service_account_namespaces") == "${each.value.namespaces}"


def test_every_policy_has_exactly_one_workload_role() -> None:
    assert set(workloads()) == policy_names()


def test_vault_roles_match_the_helm_charts() -> None:
    if not HELM.is_dir():
        pytest.skip("no Helm charts")
    roles = workloads()
    checked = 0
    for values_file in sorted(HELM.glob("*/values.yaml")):
        values = yaml.safe_load(values_file.read_text())
        vault = values.get("vault") or {}
        if "role" not in vault:
            continue
        role = roles[vault["role"]]
        chart = values_file.parent.name
        # The chart's service account defaults to the release name, which Argo CD sets to the chart name.
        assert role["service_account"] == ((values.get("serviceAccount") or {}).get("name") or chart), chart
        assert role["audience"] == vault.get("audience"), chart
        assert role["namespace"] == "${local.app_namespace}", chart
        checked += 1
    pipelines = HELM / "pipelines" / "values.yaml"
    if pipelines.exists():
        kfp_account = yaml.safe_load(pipelines.read_text())["kfp"]["serviceAccount"]
        assert roles["training-pipeline"]["service_account"] == kfp_account
        checked += 1
    assert checked >= 3


# --------------------------------------------------------------------------- checkov
CHECKOV_SKIP = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+)(?P<reason>:\s*\S.*)?$")
# Reviewed exceptions, each justified where it is skipped. Skipping any other check needs a
# review of the reason and an entry here.
REVIEWED_SKIPS = {
    "CKV_AWS_109",  # KMS key policies: "*" is the key itself (also 111, 356)
    "CKV_AWS_111",
    "CKV_AWS_356",
    "CKV_AWS_394",  # availability zones selected by a stable slice of sorted names
    "CKV_AWS_144",  # no cross-region replication: single-region platform
    "CKV2_AWS_62",  # no consumer of S3 object events
    "CKV_AWS_18",  # the access-log bucket does not log to itself
    "CKV_AWS_145",  # access-log delivery supports SSE-S3 only
}


def test_every_checkov_skip_is_justified_and_reviewed() -> None:
    skipped: set[str] = set()
    for path in all_tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = CHECKOV_SKIP.search(line)
            if match:
                skipped.add(match["id"])
                assert match["reason"], f"{path.relative_to(REPO)}:{number}: checkov skip without a reason"
    assert skipped <= REVIEWED_SKIPS, f"unreviewed checkov skips: {sorted(skipped - REVIEWED_SKIPS)}"


# --------------------------------------------------------------------------- the two roots
def test_the_infrastructure_root_needs_no_vault_so_its_first_plan_runs_before_vault_exists() -> None:
    # Every provider live/ needs, through the modules it calls: AWS only. A vault provider here
    # (even behind count = 0) would be configured on the first plan, before Vault runs.
    assert provider_needs(LIVE) == {"aws"}
    assert "configure_vault" not in variables(LIVE)
    assert "configure_vault" not in variables(module_dir("platform"))
    for env in ENVS:
        assert "configure_vault" not in hcl2.loads((ENV_DIR / env / "terraform.tfvars").read_text())


def test_vault_is_configured_by_its_own_root_with_its_own_state_per_environment() -> None:
    assert provider_needs(LIVE_VAULT) == {"vault"}
    providers = {name: body for f in tf_files(LIVE_VAULT) for name, body in labelled(parse(f), "provider")}
    assert set(providers) == {"vault"}
    # Address, token and CA come from VAULT_ADDR / VAULT_TOKEN / VAULT_CACERT only.
    assert not {k for k in providers["vault"] if not k.startswith("__")}
    calls = {name: attr(body, "source") for name, body in module_calls(LIVE_VAULT).items()}
    assert calls == {"workloads": "../modules/workloads", "vault_config": "../modules/vault-config"}
    # The same identity table gives live/ its IRSA roles.
    assert attr(module_calls(module_dir("platform"))["workloads"], "source") == "../workloads"
    vault_envs = tuple(sorted(p.name for p in (LIVE_VAULT / "environments").iterdir() if p.is_dir()))
    assert vault_envs == ENVS
    for env in ENVS:
        live = hcl2.loads((ENV_DIR / env / "backend.hcl").read_text())
        vault = hcl2.loads((LIVE_VAULT / "environments" / env / "backend.hcl").read_text())
        assert attr(vault, "bucket") == attr(live, "bucket"), env
        assert attr(vault, "key") != attr(live, "key"), f"{env}: live-vault must not share live's state"
        assert env in attr(vault, "key")
        assert (
            attr(hcl2.loads((LIVE_VAULT / "environments" / env / "terraform.tfvars").read_text()), "environment") == env
        )
    backends = [
        kind for f in tf_files(LIVE_VAULT) for b in blocks(parse(f), "terraform") for kind, _ in labelled(b, "backend")
    ]
    assert backends == ["s3"]


def test_network_policies_are_enforced_and_metrics_server_is_installed() -> None:
    directory = module_dir("kubernetes-cluster")
    vpc_cni = resource(directory, "aws_eks_addon", "vpc_cni")
    assert attr(vpc_cni, "addon_name") == "vpc-cni"
    assert re.search(r'enableNetworkPolicy = "true"', attr(vpc_cni, "configuration_values"))
    addons = {_clean(k) for k in attr(resource(directory, "aws_eks_addon", "this"), "for_each")}
    assert "metrics-server" in addons
    assert "vpc-cni" not in addons
    # Nodes join with enforcement already on.
    assert "${aws_eks_addon.vpc_cni}" in str(attr(resource(directory, "aws_eks_node_group", "this"), "depends_on"))


def test_hcl_parses_in_concurrent_checks_give_each_file_its_own_tree() -> None:
    # The checks run in threads and python-hcl2 shares one Lark parser: unguarded, parses at the
    # same time returned another file's tree (consistency and terraform-cluster failed at random).
    texts = [path.read_text(encoding="utf-8") for path in sorted(TF.rglob("*.tf"))[:12]]
    expected = [hcl2.loads(text) for text in texts]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            got = list(pool.map(hcl_loads, texts * 2))
            assert got == expected * 2

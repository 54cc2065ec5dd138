"""The backups chart: `mlops backup create|verify|prune` CronJobs on the backup strategies'
schedules, and Velero Schedules for the platform namespaces' volumes.

The strategies' one source is ``backup/strategies/*.yaml``; the chart carries byte-identical
copies in ``files/strategies/`` (Helm reads only files inside a chart), made by ``make
chart-files`` (``tests/infrastructure/test_helm_charts.py --regenerate`` calls
:func:`regenerate_strategy_files`). The checks below are functions so that the planted-fault
tests can show each one catches what it is for.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from infrastructure.validation import Context, render_chart
from infrastructure.validation.checks.kubernetes_schema import CrdSchemas, validate_manifests
from infrastructure.validation.core import CheckResult
from infrastructure.validation.manifests import Manifest, load_yaml_documents
from infrastructure.validation.values import coalesce, load_values

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "infrastructure" / "helm"
CHART = HELM_DIR / "backups"
SOURCE = ROOT / "backup" / "strategies"
COPIES = CHART / "files" / "strategies"
REGENERATE = "run `make chart-files`"
# The environments the chart is deployed to: one values file each.
ENVS = tuple(sorted(p.stem.removeprefix("values-") for p in CHART.glob("values-*.yaml")))
VELERO_SOURCE = "infrastructure/helm/backups/templates/velero.yaml"
# Velero's retention tiers: restic keep_* count -> (cron day-of-month and day-of-week, hours per unit).
TIERS = {
    "daily": ("keep_daily", "* * *", 24),
    "weekly": ("keep_weekly", "* * 0", 168),
    "monthly": ("keep_monthly", "1 * *", 744),
}
# Egress a backup run needs: DNS, Postgres, Redis, Vault, the object store.
EGRESS_PORTS = {53, 5432, 6379, 8200, 443}
KEY_FILE = "/vault/secrets/backup-encryption-key"  # pragma: allowlist secret


# --------------------------------------------------------------------------- the chart's copies
def regenerate_strategy_files(out: Path = COPIES) -> None:
    """Copy backup/strategies/*.yaml into ``out`` (and drop copies whose source is gone)."""
    out.mkdir(parents=True, exist_ok=True)
    for copied in out.glob("*.yaml"):
        if not (SOURCE / copied.name).exists():
            copied.unlink()
    for source in sorted(SOURCE.glob("*.yaml")):
        shutil.copyfile(source, out / source.name)


def stale_strategy_files(copies: Path, source: Path = SOURCE) -> list[str]:
    """Where the chart's copies differ from backup/strategies, one line each."""
    problems = []
    for name in sorted({p.name for p in source.glob("*.yaml")} | {p.name for p in copies.glob("*.yaml")}):
        original, copied = source / name, copies / name
        if not copied.exists():
            problems.append(f"{copied}: missing, {original} is not in the chart: {REGENERATE}")
        elif not original.exists():
            problems.append(f"{copied}: {original} no longer exists: {REGENERATE}")
        elif copied.read_bytes() != original.read_bytes():
            problems.append(f"{copied}: stale, differs from {original}: {REGENERATE}")
    return problems


def strategies(source: Path = SOURCE) -> dict[str, dict[str, Any]]:
    loaded = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(source.glob("*.yaml"))}
    assert loaded, f"no strategy in {source}"
    return loaded


# --------------------------------------------------------------------------- rendered objects
def render(
    env: str, overrides: dict[str, Any] | None = None, chart: Path = CHART, values_chart: Path = CHART
) -> list[dict[str, Any]]:
    """``helm template`` of the chart (or a copy) with the environment's Terraform outputs
    (infrastructure/helm/environments/<env>.yaml), ``values_chart``'s values-<env>.yaml and overrides."""
    terraform = load_values(HELM_DIR / "environments" / f"{env}.yaml")
    values = coalesce(coalesce(terraform, load_values(values_chart / f"values-{env}.yaml")), overrides or {})
    rendered = render_chart(chart, values, release=chart.name, namespace=f"mlops-{env}")
    return [
        doc
        for path, text in sorted(rendered.items())
        if not path.endswith("NOTES.txt")
        for doc in load_yaml_documents(text)
    ]


def terraform(env: str) -> dict[str, Any]:
    """What Terraform built for ``env``: global.platform of infrastructure/helm/environments/<env>.yaml."""
    platform: dict[str, Any] = load_values(CHART.parent / "environments" / f"{env}.yaml")["global"]["platform"]
    return platform


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def script(cronjob: dict[str, Any]) -> str:
    """The shell command the CronJob's one container runs (["/bin/sh", "-c", script, "$0"])."""
    (container,) = pod_spec(cronjob)["containers"]
    shell, flag, text, _ = container["command"]
    assert (shell, flag) == ("/bin/sh", "-c"), cronjob["metadata"]["name"]
    return str(text)


def schedule_mismatches(docs: list[dict[str, Any]], expected: dict[str, dict[str, Any]]) -> list[str]:
    """Where the rendered CronJobs do not run the strategies (schedule, command), one line each."""
    cronjobs = by_kind(docs, "CronJob")
    problems = []
    for name, strategy in expected.items():
        job = cronjobs.get(f"backups-{name}")
        if job is None:
            problems.append(f"strategy {name}: no CronJob backups-{name}")
            continue
        if job["spec"]["schedule"] != strategy["schedule"]:
            found, wanted = job["spec"]["schedule"], strategy["schedule"]
            problems.append(f"CronJob backups-{name}: schedule {found!r}, strategy {name} says {wanted!r}")
        if not script(job).endswith(f"&& exec mlops backup create --strategy {name}"):
            problems.append(f"CronJob backups-{name}: runs {script(job)!r}, not mlops backup create --strategy {name}")
    own = {"backups-verify", "backups-prune", "backups-retention"}  # retention: tests/privacy/test_retention_chart.py
    for name in sorted(set(cronjobs) - {f"backups-{n}" for n in expected} - own):
        problems.append(f"CronJob {name}: no strategy of that name")
    if "backups-verify" not in cronjobs or not script(cronjobs["backups-verify"]).endswith("exec mlops backup verify"):
        problems.append("no CronJob backups-verify running mlops backup verify")
    prune = script(cronjobs["backups-prune"]) if "backups-prune" in cronjobs else ""
    for name in expected:
        if f"mlops backup prune --strategy {name} || status=1;" not in prune:
            problems.append(f"CronJob backups-prune: does not prune strategy {name}")
    return problems


def velero_mismatches(docs: list[dict[str, Any]], strategy: dict[str, Any], env: str) -> list[str]:
    """Where the Velero Schedules do not follow ``strategy``'s time of day and retention tiers."""
    minute, hour, *_ = strategy["schedule"].split()
    found = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Schedule"}
    expected = {}
    for tier, (keep, days, hours) in TIERS.items():
        if strategy["retention"].get(keep):
            expected[f"backups-volumes-{env}-{tier}"] = (
                f"CRON_TZ=Etc/UTC {minute} {hour} {days}",
                f"{strategy['retention'][keep] * hours}h0m0s",
            )
    problems = [f"Schedules {sorted(found)}, expected {sorted(expected)}"] if set(found) != set(expected) else []
    for name, (cron, ttl) in expected.items():
        schedule = found.get(name)
        if schedule is None:
            continue
        spec, template = schedule["spec"], schedule["spec"]["template"]
        if schedule["metadata"]["namespace"] != "velero":
            problems.append(f"{name}: namespace {schedule['metadata']['namespace']}, Velero reads its own (velero)")
        if spec["schedule"] != cron:
            problems.append(f"{name}: schedule {spec['schedule']!r}, expected {cron!r}")
        if template.get("ttl") != ttl:
            problems.append(f"{name}: ttl {template.get('ttl')!r}, expected {ttl!r}")
        if template.get("defaultVolumesToFsBackup") is not True:
            problems.append(f"{name}: volumes are not backed up by file-system backup")
        if template.get("includedNamespaces") != [f"mlops-{env}", "feature-store"]:
            problems.append(f"{name}: includedNamespaces {template.get('includedNamespaces')}")
    return problems


@pytest.fixture(scope="module")
def rendered(repository: Context) -> dict[str, list[dict[str, Any]]]:
    """env -> what `make validate-infra` renders of the backups chart (Argo CD's release)."""
    outcome = repository.rendered()
    return {r.env: [m.body for m in r.manifests] for r in outcome.renders if r.chart == "backups"}


@pytest.fixture(scope="module")
def crd_schemas(repository: Context) -> CrdSchemas:
    from infrastructure.validation.checks.kubernetes_schema import kubernetes_version

    return CrdSchemas(repository.layout.crds, kubernetes_version(repository.kube_version))


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    """The chart and the library it depends on, copied (file://../platform-lib resolves)."""
    for name in ("backups", "platform-lib"):
        shutil.copytree(HELM_DIR / name, tmp_path / name, ignore=shutil.ignore_patterns("*.tgz"))
    return tmp_path / "backups"


# --------------------------------------------------------------------------- one source of truth
def test_the_chart_carries_the_strategies_unchanged() -> None:
    assert not stale_strategy_files(COPIES), "\n".join(stale_strategy_files(COPIES))


def test_regenerating_the_copies_repairs_them(tmp_path: Path) -> None:
    copies = tmp_path / "strategies"
    regenerate_strategy_files(copies)
    (copies / "gone.yaml").write_text("name: gone\n")
    (copies / "nightly.yaml").write_text("name: nightly\n")
    assert len(stale_strategy_files(copies)) == 2
    regenerate_strategy_files(copies)
    assert stale_strategy_files(copies) == []


# --------------------------------------------------------------------------- CronJobs
@pytest.mark.parametrize("env", ENVS)
def test_cronjobs_run_the_strategies_on_their_schedules(rendered: dict[str, list[dict[str, Any]]], env: str) -> None:
    docs = rendered[env]
    assert schedule_mismatches(docs, strategies()) == []
    for job in by_kind(docs, "CronJob").values():
        assert job["spec"]["timeZone"] == "Etc/UTC"
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
    verify = by_kind(docs, "CronJob")["backups-verify"]["spec"]["schedule"]
    nightly = strategies()["nightly"]["schedule"]
    # verify runs daily after the nightly backup started (same day, later hour).
    assert verify.split()[2:] == ["*", "*", "*"]
    assert int(verify.split()[1]) > int(nightly.split()[1])
    assert by_kind(docs, "CronJob")["backups-prune"]["spec"]["schedule"].split()[2:] == ["*", "*", "0"]


def test_a_disabled_strategy_is_not_scheduled() -> None:
    docs = render("staging", {"strategies": {"disabled": ["hourly"]}})
    expected = {k: v for k, v in strategies().items() if k != "hourly"}
    assert schedule_mismatches(docs, expected) == []
    assert "backups-hourly" not in by_kind(docs, "CronJob")


@pytest.mark.parametrize("env", ENVS)
def test_backup_pods_are_restricted_and_get_credentials_from_vault(
    rendered: dict[str, list[dict[str, Any]]], env: str
) -> None:
    cronjobs = by_kind(rendered[env], "CronJob")
    own = {"backups-verify", "backups-prune", "backups-retention"}
    assert set(cronjobs) == {f"backups-{n}" for n in strategies()} | own
    for name, job in cronjobs.items():
        spec = pod_spec(job)
        annotations = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        (container,) = spec["containers"]
        assert not spec.get("initContainers"), f"{name}: pg_dump runs in the platform image now"
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        # The writable paths are emptyDirs with a size limit: scratch (dumps and restic's cache) and
        # the platform config's state folder; the other mount is Vault's CA (read-only), for the
        # OpenBao target's client.
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        state_dir = "/app/.mlops" if env == "dev" else "/tmp/mlops"
        assert {path: m["name"] for path, m in mounts.items()} == {
            "/tmp": "tmp",
            state_dir: "state",
            "/vault/tls": "vault-ca",
        }, name
        assert mounts["/vault/tls"].get("readOnly") is True, name
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert tmp["emptyDir"]["sizeLimit"], name
        env_vars = {v["name"]: v["value"] for v in container["env"]}
        assert env_vars["MLOPS_ENV"] == env
        assert env_vars["RESTIC_CACHE_DIR"].startswith("/tmp/"), name
        bucket = terraform(env)["buckets"]["backups"]
        assert env_vars["RESTIC_REPOSITORY"] == f"s3:https://s3.amazonaws.com/{bucket}/restic", name
        # Every file the job reads from /vault/secrets is one the agent renders, from this env.
        injected = {
            k.removeprefix("vault.hashicorp.com/agent-inject-secret-"): v
            for k, v in annotations.items()
            if k.startswith("vault.hashicorp.com/agent-inject-secret-")
        }
        assert injected == {
            "backup-encryption-key": f"secret/data/mlops/{env}/backup",
            "feature-store.env": f"secret/data/mlops/{env}/feature-store",
            "pgpass": f"secret/data/mlops/{env}/consent",  # the first database's area (the template reads each)
        }, name
        assert env_vars["RESTIC_PASSWORD_FILE"] == KEY_FILE
        assert env_vars["PGPASSFILE"] == "/vault/secrets/pgpass"
        assert script(job).startswith("set -a && . /vault/secrets/feature-store.env && set +a && "), name
        pgpass = annotations["vault.hashicorp.com/agent-inject-template-pgpass"]
        assert f'secret "secret/data/mlops/{env}/registry"' in pgpass
        # Every database the targets dump lives on the registry instance Terraform built, one
        # role each (backup.environment.cluster_environment reads them from this file).
        host = terraform(env)["postgres"]["host"]
        assert f"{host}:5432:mlflow:mlflow:" in pgpass
        assert f"{host}:5432:feast_registry:feast_registry:" in pgpass
        assert f"{host}:5432:feast_offline:feast_offline:" in pgpass
        assert '"offline_password"' in pgpass
        assert f"{host}:5432:consent:consent:" in pgpass
        assert f'secret "secret/data/mlops/{env}/consent"' in pgpass
        # S3 through the pod's IRSA role (no key), in Terraform's region; MLflow's artifacts
        # where the mlflow chart puts them.
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env_vars), name
        assert env_vars["AWS_REGION"] == terraform(env)["region"], name
        artifacts = terraform(env)["buckets"]["artifacts"]
        assert env_vars["MLOPS_ARTIFACTS_URI"] == f"s3://{artifacts}/mlflow", name


def artifacts_mismatch(backups: list[dict[str, Any]], mlflow: list[dict[str, Any]]) -> str | None:
    """Where the backup jobs' MLOPS_ARTIFACTS_URI is not the mlflow chart's artifacts destination."""
    (server,) = (c for d in mlflow if d["kind"] == "Deployment" for c in pod_spec_of(d)["containers"])
    (destination,) = (a.split("=", 1)[1] for a in server["args"] if a.startswith("--artifacts-destination="))
    for name, job in by_kind(backups, "CronJob").items():
        (container,) = pod_spec(job)["containers"]
        uri = {v["name"]: v.get("value") for v in container["env"]}.get("MLOPS_ARTIFACTS_URI")
        if uri != destination:
            return f"CronJob {name}: MLOPS_ARTIFACTS_URI {uri!r}, MLflow writes to {destination!r}"
    return None


def pod_spec_of(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("env", ENVS)
def test_the_artifacts_target_reads_where_mlflow_writes(rendered: dict[str, list[dict[str, Any]]], env: str) -> None:
    mlflow = render(env, chart=HELM_DIR / "mlflow", values_chart=HELM_DIR / "mlflow")
    assert artifacts_mismatch(rendered[env], mlflow) is None
    # Planted: the backups chart pointed at another prefix.
    moved = render(env, {"artifacts": {"prefix": "models"}})
    assert artifacts_mismatch(moved, mlflow) == (
        f"CronJob backups-hourly: MLOPS_ARTIFACTS_URI 's3://{terraform(env)['buckets']['artifacts']}/models', "
        f"MLflow writes to 's3://{terraform(env)['buckets']['artifacts']}/mlflow'"
    )


@pytest.mark.parametrize("env", ENVS)
def test_network_policy_allows_what_a_backup_needs(rendered: dict[str, list[dict[str, Any]]], env: str) -> None:
    policies = by_kind(rendered[env], "NetworkPolicy")
    assert policies["backups-default-deny"]["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ports = {p["port"] for rule in policies["backups-egress"]["spec"]["egress"] for p in rule["ports"]}
    assert ports == EGRESS_PORTS


# --------------------------------------------------------------------------- Velero
@pytest.mark.parametrize("env", ENVS)
def test_velero_schedules_follow_the_nightly_strategy_where_enabled(
    rendered: dict[str, list[dict[str, Any]]], crd_schemas: CrdSchemas, env: str
) -> None:
    docs = rendered[env]
    enabled = load_values(CHART / f"values-{env}.yaml").get("velero", {}).get("enabled", False)
    assert enabled == (env in ("staging", "prod")), f"values-{env}.yaml: velero.enabled"
    if not enabled:
        assert not [d for d in docs if d["kind"] == "Schedule"]
        return
    assert velero_mismatches(docs, strategies()["nightly"], env) == []
    for schedule in (d for d in docs if d["kind"] == "Schedule"):
        assert crd_schemas.errors(Manifest(VELERO_SOURCE, schedule)) == []


def test_velero_can_be_turned_on_in_dev() -> None:
    docs = render("dev", {"velero": {"enabled": True}})
    assert velero_mismatches(docs, strategies()["nightly"], "dev") == []


# --------------------------------------------------------------------------- planted faults
def test_a_velero_schedule_with_a_bad_field_fails_the_schema_check(
    rendered: dict[str, list[dict[str, Any]]], crd_schemas: CrdSchemas, repository: Context
) -> None:
    schedule = next(d for d in rendered["prod"] if d["kind"] == "Schedule")
    broken = copy.deepcopy(schedule)
    broken["spec"]["template"]["defaultVolumesToFSBackup"] = broken["spec"]["template"].pop("defaultVolumesToFsBackup")
    broken["spec"]["template"]["ttl"] = 168
    errors = crd_schemas.errors(Manifest(VELERO_SOURCE, broken)) or []
    assert any("defaultVolumesToFSBackup" in e and "spec.template" in e for e in errors), errors
    assert any(e.startswith("spec.template.ttl:") for e in errors), errors
    # Through the kubernetes-schema check itself: the kind maps to crds/velero.io_schedule.json.
    result = CheckResult("kubernetes-schema")
    validate_manifests(repository.layout, [Manifest(VELERO_SOURCE, broken)], None, result)
    assert result.counts.get("custom_resources") == 1
    assert result.failures
    assert all("(schema velero.io_schedule.json)" in f for f in result.failures), result.failures
    missing = copy.deepcopy(schedule)
    del missing["spec"]["schedule"]
    errors = crd_schemas.errors(Manifest(VELERO_SOURCE, missing)) or []
    assert any("'schedule' is a required property" in e for e in errors), errors


def test_a_stale_strategy_copy_is_caught(chart_copy: Path) -> None:
    copied = chart_copy / "files" / "strategies" / "nightly.yaml"
    copied.write_text(copied.read_text().replace('"30 1 * * *"', '"45 2 * * *"'))
    assert [p.split(":")[0] for p in stale_strategy_files(copied.parent)] == [str(copied)]
    problems = schedule_mismatches(render("prod", chart=chart_copy), strategies())
    assert problems == ["CronJob backups-nightly: schedule '45 2 * * *', strategy nightly says '30 1 * * *'"]


def test_velero_schedule_not_matching_the_strategy_is_caught(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = copy.deepcopy(rendered["prod"])
    weekly = next(d for d in docs if d["kind"] == "Schedule" and d["metadata"]["name"].endswith("-weekly"))
    weekly["spec"]["template"]["ttl"] = "168h0m0s"
    assert velero_mismatches(docs, strategies()["nightly"], "prod") == [
        "backups-volumes-prod-weekly: ttl '168h0m0s', expected '672h0m0s'"
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("nightly.yaml", "name: nightly", "name: nighty"),
            r'files/strategies/nightly.yaml: name is "nighty", expected "nightly"',
        ),
        (
            ("hourly.yaml", '"15 * * * *"', '"15 * *"'),
            r'files/strategies/hourly.yaml: schedule "15 \* \*" is not a five-field cron',
        ),
        (
            ("hourly.yaml", "targets:\n  - mlflow-db\n  - consent-db\n  - feast-registry\n", "targets: []\n"),
            "hourly.yaml: targets must be a non-empty list",
        ),
    ],
)
def test_a_broken_strategy_copy_fails_the_render(chart_copy: Path, edit: tuple[str, str, str], message: str) -> None:
    name, old, new = edit
    path = chart_copy / "files" / "strategies" / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(helm.HelmRenderError, match=message):
        render("dev", chart=chart_copy)


def test_bad_values_fail_the_render_with_the_key_named() -> None:
    with pytest.raises(helm.HelmRenderError, match=r'strategies.disabled: no strategy named "weekly"'):
        render("dev", {"strategies": {"disabled": ["weekly"]}})
    with pytest.raises(helm.HelmRenderError, match=r'velero.strategy: strategy "hourly" runs at "15 \* \* \* \*"'):
        render("prod", {"velero": {"strategy": "hourly"}})
    with pytest.raises(helm.HelmRenderError, match=r'velero.strategy: no strategy named "weekly"'):
        render("prod", {"velero": {"strategy": "weekly"}})
    with pytest.raises(helm.HelmValuesError, match="velero"):
        render("prod", {"velero": {"enabled": "yes"}})

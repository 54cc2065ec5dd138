"""GitOps policy gaps closed in `make validate-infra` (issue 9, items 14-18).

Each test plants one fault in a temporary copy of this repository's manifests (charts, Argo CD,
CI files) and runs the validator (:mod:`infrastructure.validation`) on the copy: the check must
fail, naming the template or values file responsible and saying why. The unmodified copy passes
the same checks. The helper functions behind the checks (Argo CD project matching, the
Go-template subset, the secret scanner, the pin rule) are tested directly as well.
"""

from __future__ import annotations

import json
import random
import shutil
import string
from pathlib import Path

import pytest

from infrastructure.validation.applications import go_template
from infrastructure.validation.checks.argocd_projects import destination_permitted, kind_permitted, source_permitted
from infrastructure.validation.checks.pinned_actions import action_problem
from infrastructure.validation.checks.secret_values import ENTROPY_MIN_LENGTH, SecretSite, find_secrets
from mlops.errors import TemplateError
from tests.infrastructure.validator import failures, run_checks

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT_PIN = "actions/checkout@34e114876b0b11c390a56381ad16ebd13914f8d5"
COPIED_FILES = (".gitlab-ci.yml", ".drone.yml", "Jenkinsfile", "Dockerfile")
COPIED_DIRS = ("infrastructure", "secrets", ".github")
NEW_CHECKS = ("helm-render", "argocd-projects", "policies", "secret-values", "pinned-actions")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of this repository's manifests and CI files (the npm validators linked, not copied)."""
    root = tmp_path / "repo"
    for name in COPIED_DIRS:
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("node_modules", ".terraform"))
    for name in COPIED_FILES:
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, root / name)
    modules = ROOT / "infrastructure" / "validation" / "node_modules"
    if modules.is_dir():
        (root / "infrastructure" / "validation" / "node_modules").symlink_to(modules)
    return root


def edit(root: Path, relative: str, old: str, new: str, count: int = 1) -> None:
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{relative} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def append(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_the_unmodified_copy_passes(repo: Path) -> None:
    code, report = run_checks(repo, *NEW_CHECKS)
    assert code == 0, json.dumps({name: report["checks"][name]["failures"] for name in NEW_CHECKS}, indent=2)
    # The root app and 5 charts x 3 environments.
    assert report["checks"]["argocd-projects"]["counts"]["applications"] == 16
    assert report["checks"]["pinned-actions"]["counts"]["references"] > 0


# --------------------------------------------------------------------------- 14: Argo CD projects

APPSET = "infrastructure/argocd/applicationset.yaml"
PROD_SERVING = (
    "ApplicationSet/mlops-workloads element {env: prod, cluster: mlops-prod, revision: main, autoSync: false, "
)


def test_an_applicationset_sourcing_another_repository_is_refused(repo: Path) -> None:
    edit(
        repo,
        APPSET,
        "repoURL: https://github.com/mlops-platform/mlops-platform.git",
        "repoURL: https://github.com/someone-else/charts.git",
    )
    code, report = run_checks(repo, "argocd-projects")
    assert code == 1
    text = failures(report, "argocd-projects")
    assert (
        f"{APPSET}: {PROD_SERVING}chart: serving, wave: 1}} (Application serving-prod): source "
        "https://github.com/someone-else/charts.git is not in project mlops-prod's sourceRepos "
        "(https://github.com/mlops-platform/mlops-platform.git)"
    ) in text
    # Every generated Application, element by element.
    assert len(report["checks"]["argocd-projects"]["failures"]) == 15


def test_an_application_deploying_to_kube_system_is_refused(repo: Path) -> None:
    edit(repo, APPSET, 'namespace: "mlops-{{ .env }}"', "namespace: kube-system")
    code, report = run_checks(repo, "argocd-projects")
    assert code == 1
    text = failures(report, "argocd-projects")
    assert "(Application backups-staging): deploys to kube-system, a control-plane namespace" in text
    assert (
        "(Application backups-staging): destination cluster mlops-staging namespace kube-system is not in "
        "project mlops-staging's destinations (name mlops-staging namespace mlops-staging; "
        "name mlops-staging namespace velero; name mlops-staging namespace kubeflow)"
    ) in text


def test_a_kind_outside_the_project_whitelist_is_refused(repo: Path) -> None:
    (repo / "infrastructure/helm/serving/templates/clusterrole.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: serving-reader\nrules: []\n"
    )
    code, report = run_checks(repo, "argocd-projects")
    assert code == 1
    text = failures(report, "argocd-projects")
    assert (
        "infrastructure/helm/serving/templates/clusterrole.yaml with infrastructure/helm/serving/values-prod.yaml: "
        "ClusterRole/serving-reader: kind rbac.authorization.k8s.io/ClusterRole is not allowed by project "
        "mlops-prod's clusterResourceWhitelist"
    ) in text


def test_a_generator_that_cannot_be_expanded_is_not_waved_through(repo: Path) -> None:
    edit(
        repo,
        APPSET,
        "  generators:\n",
        "  generators:\n"
        "    - git:\n"
        "        repoURL: https://github.com/mlops-platform/mlops-platform.git\n"
        "        revision: main\n"
        "        directories: [{path: infrastructure/helm/*}]\n",
    )
    code, report = run_checks(repo, "argocd-projects")
    assert code == 1
    assert (
        f"{APPSET}: ApplicationSet/mlops-workloads generator 1: a git generator needs a cluster or Git to "
        "expand, so its Applications go unchecked"
    ) in failures(report, "argocd-projects")


def test_the_root_application_is_checked_against_the_bootstrap_project(repo: Path) -> None:
    # The root app deploys infrastructure/argocd: a kind the bootstrap project does not list is refused.
    (repo / "infrastructure/argocd/extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: argocd\ndata: {a: b}\n"
    )
    code, report = run_checks(repo, "argocd-projects")
    assert code == 1
    assert (
        "infrastructure/argocd/root.yaml: Application/mlops-root: infrastructure/argocd/extra.yaml: "
        "ConfigMap/extra: kind core/ConfigMap is not allowed by project mlops-bootstrap's namespaceResourceWhitelist"
    ) in failures(report, "argocd-projects")


def test_project_globs_follow_argo_cd() -> None:
    project = {
        "sourceRepos": ["https://github.com/mlops-platform/*", "!https://github.com/mlops-platform/forbidden"],
        "destinations": [{"name": "mlops-*", "namespace": "mlops-*"}, {"server": "*", "namespace": "!kube-system"}],
    }
    assert source_permitted(project, "https://github.com/mlops-platform/mlops-platform.git")
    assert source_permitted(project, "https://GitHub.com/mlops-platform/charts/")
    assert not source_permitted(project, "https://github.com/mlops-platform/forbidden.git")
    assert not source_permitted(project, "https://github.com/elsewhere/charts.git")
    assert not source_permitted({"sourceRepos": []}, "https://github.com/mlops-platform/x.git")
    assert destination_permitted(project, "", "mlops-qa", "mlops-qa")
    assert not destination_permitted(project, "", "mlops-qa", "kube-system")
    assert not destination_permitted({"destinations": []}, "", "mlops-qa", "mlops-qa")


def test_resource_whitelists_follow_argo_cd() -> None:
    project = {
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
        "namespaceResourceWhitelist": [{"group": "apps", "kind": "*"}],
        "namespaceResourceBlacklist": [{"group": "apps", "kind": "DaemonSet"}],
    }
    assert kind_permitted(project, "", "Namespace", namespaced=False)
    assert not kind_permitted(project, "rbac.authorization.k8s.io", "ClusterRole", namespaced=False)
    assert kind_permitted(project, "apps", "Deployment", namespaced=True)
    assert not kind_permitted(project, "apps", "DaemonSet", namespaced=True)
    assert not kind_permitted(project, "", "Secret", namespaced=True)
    # No namespaced whitelist at all allows every namespaced kind; no cluster whitelist allows none.
    assert kind_permitted({}, "", "Secret", namespaced=True)
    assert not kind_permitted({}, "", "Namespace", namespaced=False)


def test_go_template_subset() -> None:
    text = 'a{{ .x }}\n{{- if .flag }}\nyes{{ else }}no{{ end }}{{- if eq .env "prod" }} P {{- end }}'
    assert go_template(text, {"x": 1, "flag": True, "env": "dev"}) == "a1\nyes"
    assert go_template(text, {"x": 1, "flag": False, "env": "prod"}) == "a1no P"
    assert go_template("{{name}}-{{ .path.basename }}", {"name": "n", "path": {"basename": "b"}}) == "n-b"
    with pytest.raises(TemplateError, match="'missing' is not set"):
        go_template("{{ .missing }}", {})
    with pytest.raises(TemplateError, match="cannot evaluate"):
        go_template("{{ .x | upper }}", {"x": "a"})


# --------------------------------------------------------------------------- 15: secret values

CRONJOBS = "infrastructure/helm/backups/templates/cronjobs.yaml"
CRONJOBS_PROD = f"{CRONJOBS} with infrastructure/helm/backups/values-prod.yaml"
# The CronJobs' shared body (the include cronjobs.yaml renders once per job).
CRONJOB_BODY = "infrastructure/helm/backups/templates/_backups.tpl"


def test_literal_secrets_are_found_whatever_their_name(repo: Path) -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    edit(
        repo,
        CRONJOB_BODY,
        "                - name: TMPDIR\n                  value: /tmp\n",
        "                - name: TMPDIR\n                  value: /tmp\n"
        "                - name: DB_PASS\n                  value: hunter2\n"
        "                - name: UPSTREAM\n                  value: wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE9KEY\n"
        f"                - name: BASE_IMAGE\n                  value: registry.example.com/base@{digest}\n",
    )
    append(
        repo,
        "infrastructure/helm/backups/values-prod.yaml",
        'databases:\n  mlflow:\n    host: "postgresql://mlflow:hunter2@db/mlflow"\n',  # pragma: allowlist secret
    )
    code, report = run_checks(repo, "secret-values")
    assert code == 1
    text = failures(report, "secret-values")
    pod = f"{CRONJOBS_PROD}: CronJob/backups-nightly spec.jobTemplate.spec.template"
    dump = f"{pod}.spec.containers[nightly]"
    # A name detect-secrets knows for a password (no password/secret/token/key in it).
    assert f"{dump}.env[DB_PASS].value: a literal value for DB_PASS, whose name says it is a secret" in text
    # A password inside a URL (the libpq password file's host), traced to the values file and key that set it.
    pgpass = f"{pod}.metadata.annotations.vault.hashicorp.com/agent-inject-template-pgpass: "
    assert f"{pgpass}a password in a connection string (" in text
    assert "set in infrastructure/helm/backups/values-prod.yaml at databases.mlflow.host)" in text
    # A high-entropy string under an innocent name.
    assert f"{dump}.env[UPSTREAM].value: a high-entropy string (42 chars," in text
    assert "hunter2" not in text
    # The image digest is on the allowlist.
    assert "BASE_IMAGE" not in text
    assert report["checks"]["secret-values"]["counts"]["allowlisted"] > 0


def test_allowlist_entries_need_a_reason(repo: Path) -> None:
    append(repo, "infrastructure/validation/secret-allowlist.yaml", "  - pattern: 'hunter2'\n")
    code, report = run_checks(repo, "secret-values")
    assert code == 1
    assert "infrastructure/validation/secret-allowlist.yaml: entry 4 needs a pattern and a reason" in failures(
        report, "secret-values"
    )


def _findings(value: str, name: str | None = None) -> list[str]:
    site = SecretSite("env", name, value, keyed=name is not None)
    return [finding.what for finding in find_secrets(site)]


def test_secret_scanner_thresholds_and_placeholders() -> None:
    rng = random.Random(9)
    alphabet = string.ascii_letters + string.digits
    tokens = ["".join(rng.choice(alphabet) for _ in range(ENTROPY_MIN_LENGTH)) for _ in range(200)]
    caught = sum(any("high-entropy" in f for f in _findings(token)) for token in tokens)
    assert caught >= 190, f"only {caught}/200 random {ENTROPY_MIN_LENGTH}-character tokens flagged"
    hex_token = "3f9a0c1be27d4856a9f01c3e7b2d6e48"  # pragma: allowlist secret
    assert any("high-entropy hex" in f for f in _findings(hex_token))
    # Names, paths, hosts, references and templated credentials are not secrets.
    for value in (
        "HorizontalPodAutoscaler",
        "mlops-staging-backups",
        "feast-postgresql.feature-store.svc",
        "/vault/secrets/pgpass-feast-offline",
        "--component_module_path",
        "postgresql://mlflow:${DB_PASSWORD}@db/mlflow",
        "postgresql://mlflow:{{ .Data.data.password }}@db/mlflow",
        "vault://secret/mlops/prod/registry#db_password",
    ):
        assert _findings(value) == [], value
    assert _findings("/vault/secrets/registry.env", name="DB_PASSWORD") == []
    assert _findings("host=db user=mlflow password=hunter2") == ["a credential written inline (key=value)"]
    assert _findings("hunter2", name="DB_PASS")
    assert _findings("AKIAIOSFODNN7EXAMPLE") == ["a AWS Access Key (detect-secrets)"]  # pragma: allowlist secret


# --------------------------------------------------------------------------- 16: pinned actions


def test_an_action_pinned_by_tag_is_refused(repo: Path) -> None:
    edit(repo, ".github/workflows/ci.yml", f"{CHECKOUT_PIN} # v4.3.1", "actions/checkout@v4")
    code, report = run_checks(repo, "pinned-actions")
    assert code == 1
    assert failures(report, "pinned-actions") == (
        ".github/workflows/ci.yml:31: job lint step 1: uses actions/checkout@v4: @v4 is a tag or branch, which "
        "can be moved to other code; pin the full 40-character commit SHA (the version goes in a comment)"
    )


def test_unpinned_gitlab_includes_and_jenkins_libraries_are_refused(repo: Path) -> None:
    append(
        repo,
        ".gitlab-ci.yml",
        "\ninclude:\n  - local: /ci/local.yml\n  - project: platform/ci-templates\n    ref: main\n"
        "  - component: gitlab.com/components/sast/sast@2.0.0\n",
    )
    jenkinsfile = repo / "Jenkinsfile"
    jenkinsfile.write_text("@Library('platform-lib@v1') _\n" + jenkinsfile.read_text())
    code, report = run_checks(repo, "pinned-actions")
    assert code == 1
    text = failures(report, "pinned-actions")
    assert ".gitlab-ci.yml:" in text
    assert "include of project platform/ci-templates at ref main" in text
    assert "component gitlab.com/components/sast/sast@2.0.0 is not pinned" in text
    assert "Jenkinsfile:1: shared library platform-lib at v1" in text
    assert "/ci/local.yml" not in text


def test_the_pin_rule() -> None:
    assert action_problem(CHECKOUT_PIN) is None
    assert action_problem("./.github/actions/setup") is None
    assert action_problem("docker://alpine@sha256:" + "a" * 64) is None
    assert "tag or branch" in str(action_problem("actions/checkout@v4.3.1"))
    assert "tag or branch" in str(action_problem("actions/checkout@34e1148"))  # short SHAs collide
    assert "no @ref" in str(action_problem("actions/checkout"))
    assert "digest" in str(action_problem("docker://alpine:3.20"))
    assert "tag or branch" in str(action_problem("org/repo/.github/workflows/ci.yml@main"))


# --------------------------------------------------------------------------- 17: per-environment NetworkPolicies


def test_prod_without_network_policies_fails_naming_the_values_file(repo: Path) -> None:
    values = "infrastructure/helm/backups/values-prod.yaml"
    append(repo, values, "networkPolicy:\n  enabled: false\n")
    # Dev may run without them: the rule is per environment.
    append(repo, "infrastructure/helm/backups/values-dev.yaml", "networkPolicy:\n  enabled: false\n")
    code, report = run_checks(repo, "policies")
    assert code == 1
    text = failures(report, "policies")
    assert (
        f"{CRONJOBS_PROD}: network/default-deny: CronJob/backups-nightly in prod: no NetworkPolicy rendered for "
        f"prod selects its pods for Ingress and Egress ({values} sets networkPolicy.enabled: false)"
    ) in text
    assert "in dev" not in text
    # The backup CronJobs: hourly, nightly, verify, prune, retention.
    assert len(report["checks"]["policies"]["failures"]) == 5


def test_a_default_deny_without_allow_rules_fails(repo: Path) -> None:
    values = "infrastructure/helm/feature-store/values-staging.yaml"
    # Every egress rule removed (a null deletes a default key): only the default deny is left.
    append(repo, values, "networkPolicy:\n  egress: {dns: null, redis: null, postgres: null, vault: null}\n")
    code, report = run_checks(repo, "policies")
    assert code == 1
    assert (
        "infrastructure/helm/feature-store/templates/cronjob.yaml with "
        f"{values}: network/allow-rules: CronJob/feature-store-materialize in staging"
    ) in failures(report, "policies")


# --------------------------------------------------------------------------- 18: Pod Security and failure sources


def test_namespaces_must_enforce_restricted(repo: Path) -> None:
    edit(repo, APPSET, "pod-security.kubernetes.io/enforce: restricted", "pod-security.kubernetes.io/enforce: baseline")
    (repo / "infrastructure/namespaces").mkdir()
    (repo / "infrastructure/namespaces/tools.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tools\n"
        "  labels:\n    pod-security.kubernetes.io/enforce: baseline\n"
    )
    code, report = run_checks(repo, "argocd-projects", "policies")
    assert code == 1
    assert (
        f"{PROD_SERVING}chart: serving, wave: 1}} (Application serving-prod): creates namespace mlops-prod with "
        "Pod Security pod-security.kubernetes.io/enforce=baseline: set restricted"
    ) in failures(report, "argocd-projects")
    assert (
        "infrastructure/namespaces/tools.yaml: pod-security/namespace-enforce: Namespace/tools: "
        "pod-security.kubernetes.io/enforce is baseline; it must be restricted"
    ) in failures(report, "policies")


def test_values_schema_failures_name_the_values_file_key_and_reason(repo: Path) -> None:
    values = "infrastructure/helm/serving/values-prod.yaml"
    append(repo, values, 'image:\n  tag: latest\n  pullPolicy: Sometimes\nautoscalingg: {}\nreplicas: "two"\n')
    code, report = run_checks(repo, "helm-render")
    assert code == 1
    text = failures(report, "helm-render")
    assert f'serving/prod: {values}: image.tag: must not be "latest" (a release tag; "latest" moves' in text
    assert f'serving/prod: {values}: image.pullPolicy: must be one of "Always", "IfNotPresent", not "Sometimes"' in text
    assert f"serving/prod: {values}: autoscalingg: unknown key (allowed: " in text
    assert f'serving/prod: {values}: replicas: must be an integer, not a string "two"' in text
    assert "'not' failed" not in text


def test_kubernetes_failures_name_the_template_and_values_file(repo: Path) -> None:
    edit(repo, "infrastructure/helm/serving/templates/service.yaml", "targetPort: http", "targetPortt: http")
    code, report = run_checks(repo, "kubernetes-schema")
    assert code == 1
    text = failures(report, "kubernetes-schema")
    assert (
        "infrastructure/helm/serving/templates/service.yaml with infrastructure/helm/serving/values-staging.yaml: "
        "Service/serving-champion: spec.ports.0: Additional properties are not allowed ('targetPortt' was unexpected)"
    ) in text
    assert "build/infra/rendered" not in text

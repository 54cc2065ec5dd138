"""The offline infrastructure validation behind `make validate-infra`.

Each check is run (``--only``) on a small repository built in a temporary folder: first clean,
then with a deliberate defect, and the check must fail naming that defect. A missing tool fails
its check loudly. The last test runs every check on this repository itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from infrastructure.validation import CHECKS
from infrastructure.validation.checks import checkov as checkov_check
from infrastructure.validation.checks import terraform as terraform_check
from tests.infrastructure.validator import failures, run_checks

ROOT = Path(__file__).resolve().parents[2]
VALIDATION = ROOT / "infrastructure" / "validation"
# What `make validate-infra` runs (with --out build/infra).
COMMAND = [sys.executable, "-m", "infrastructure.validation"]
NPM_CI = "npm ci --prefix infrastructure/validation"
FAST_CHECKS = [
    "helm-render",
    "kubernetes-schema",
    "argocd",
    "argocd-projects",
    "policies",
    "secret-values",
    "terraform-fmt",
    "actionlint",
    "pinned-actions",
    "yaml",
]


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


DEPLOYMENT = """
{{- if .Values.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          securityContext:
            allowPrivilegeEscalation: false
            privileged: {{ .Values.privileged }}
            capabilities: {drop: [ALL]}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 500m, memory: 256Mi}
{{- end }}
"""

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        # Helm adds an entry for each dependency (the common library chart here).
        "common": {"type": "object"},
        "enabled": {"type": "boolean"},
        "privileged": {"type": "boolean"},
        "replicas": {"type": "integer", "minimum": 1},
        "image": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"repository": {"type": "string"}, "tag": {"type": "string"}},
        },
    },
}

APPLICATION = """
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: demo-dev
  namespace: argocd
spec:
  project: demo
  source:
    repoURL: https://example.com/repo.git
    targetRevision: main
    path: infrastructure/helm/demo
    helm:
      valueFiles: [values.yaml, values-dev.yaml]
  destination:
    server: https://kubernetes.default.svc
    namespace: demo-dev
  syncPolicy:
    automated: {prune: true, selfHeal: true}
"""

PROJECT = """
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: demo
  namespace: argocd
spec:
  sourceRepos: [https://example.com/repo.git]
  destinations:
    - server: https://kubernetes.default.svc
      namespace: demo-dev
  clusterResourceWhitelist: []
  namespaceResourceWhitelist:
    - group: apps
      kind: Deployment
"""

WORKFLOW = """
name: ci
on: push
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@34e114876b0b11c390a56381ad16ebd13914f8d5 # v4.3.1
      - run: echo "${{ github.ref }}"
"""


DEMO_CHART = """
apiVersion: v2
name: demo
version: 0.1.0
dependencies:
  - name: common
    version: 0.1.0
    repository: file://../common
"""


def make_repo(root: Path, *, node_modules: bool = True) -> Path:
    """A repository with one of each input, all clean for every check but checkov. The chart
    takes its helpers from a library chart, with neither Chart.lock nor charts/ yet, as after
    the library was added."""
    write(root, "infrastructure/helm/demo/Chart.yaml", DEMO_CHART)
    write(
        root,
        "infrastructure/helm/demo/values.yaml",
        """
        enabled: true
        privileged: false
        replicas: 1
        image:
          repository: registry.example.com/mlops/platform
          tag: "1.0.0"
        """,
    )
    write(root, "infrastructure/helm/demo/values-dev.yaml", "replicas: 2\n")
    (root / "infrastructure/helm/demo/values.schema.json").write_text(json.dumps(SCHEMA, indent=2))
    write(root, "infrastructure/helm/demo/templates/deployment.yaml", DEPLOYMENT)
    write(
        root, "infrastructure/helm/common/Chart.yaml", "apiVersion: v2\nname: common\nversion: 0.1.0\ntype: library\n"
    )
    write(root, "infrastructure/helm/common/templates/_labels.tpl", '{{- define "common.labels" -}}a: b{{- end -}}\n')
    write(root, "infrastructure/argocd/demo.yaml", APPLICATION)
    write(root, "infrastructure/argocd/projects.yaml", PROJECT)
    write(
        root,
        "secrets/sealed-secrets/demo.yaml",
        """
        apiVersion: bitnami.com/v1alpha1
        kind: SealedSecret
        metadata: {name: demo, namespace: demo-dev}
        spec:
          encryptedData: {token: ""}
          template:
            metadata: {name: demo}
            type: Opaque
        """,
    )
    write(
        root,
        "infrastructure/terraform/modules/tags/main.tf",
        """
        variable "team" {
          type = string
        }

        output "tags" {
          value = { team = var.team }
        }
        """,
    )
    write(
        root,
        "infrastructure/terraform/modules/tags/tests/tags.tftest.hcl",
        """
        variables {
          team = "ml"
        }

        run "tags" {
          command = plan

          assert {
            condition     = output.tags.team == "ml"
            error_message = "the team tag is wrong"
          }
        }
        """,
    )
    write(root, "Dockerfile", 'FROM python:3.11-slim\nUSER 10001\nHEALTHCHECK CMD ["true"]\n')
    write(root, ".github/workflows/ci.yml", WORKFLOW)
    for relative in ("infrastructure/policies", "infrastructure/validation/crds"):
        shutil.copytree(ROOT / relative, root / relative)
    for script in ("argocd-validate.mjs", "actionlint.mjs", "secret-allowlist.yaml"):
        if (VALIDATION / script).is_file():
            shutil.copy(VALIDATION / script, root / "infrastructure/validation" / script)
    if node_modules:
        (root / "infrastructure/validation/node_modules").symlink_to(VALIDATION / "node_modules")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def require_wrapper(script: str) -> None:
    if not (VALIDATION / script).is_file():
        pytest.fail(f"infrastructure/validation/{script} is not in the repository yet")


# --------------------------------------------------------------------------- clean baseline


def test_clean_repository_passes_the_fast_checks(repo: Path) -> None:
    code, report = run_checks(repo, *FAST_CHECKS)
    assert code == 0, json.dumps(report, indent=2)
    assert (repo / "build/infra/rendered/demo/dev.yaml").is_file()
    assert report["checks"]["helm-render"]["counts"]["renders"] == 1
    assert any("common: library chart" in n for n in report["checks"]["helm-render"]["notes"])
    schema = report["checks"]["kubernetes-schema"]["counts"]
    assert schema["kubernetes"] == 1
    assert schema["custom_resources"] == 1
    # The release is rendered where Argo CD deploys it, with the library chart's helpers.
    rendered = (repo / "build/infra/rendered/demo/dev.yaml").read_text()
    assert "namespace: demo-dev" in rendered
    assert "a: b" in rendered
    assert "helm dependency build: demo (common 0.1.0)" in report["checks"]["helm-render"]["notes"]
    assert (repo / "infrastructure/helm/demo/charts/common-0.1.0.tgz").is_file()


# --------------------------------------------------------------------------- helm-render


def test_helm_render_enforces_values_schema_and_reports_template_errors(repo: Path) -> None:
    write(repo, "infrastructure/helm/demo/values-prod.yaml", 'replicas: "two"\n')
    write(repo, "infrastructure/helm/broken/Chart.yaml", "apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    write(repo, "infrastructure/helm/broken/values.yaml", "name: x\n")
    write(repo, "infrastructure/helm/broken/values.schema.json", '{"type": "object"}\n')
    write(repo, "infrastructure/helm/broken/templates/cm.yaml", "kind: ConfigMap\nname: {{ .Values.name \n")
    code, report = run_checks(repo, "helm-render", "policies")
    assert code == 1
    text = failures(report, "helm-render")
    # The values file and key that break the schema, and why in words.
    values = "infrastructure/helm/demo/values-prod.yaml"
    assert f'demo/prod: {values}: replicas: must be an integer, not a string "two"' in text
    assert "broken/default:" in text
    assert "demo/dev" not in text
    # Checks that consume renders say what they could not check.
    assert "demo/prod: not checked, the chart did not render" in failures(report, "policies")


def test_helm_render_fails_when_a_dependency_cannot_be_built(repo: Path) -> None:
    write(
        repo,
        "infrastructure/helm/demo/Chart.yaml",
        DEMO_CHART.replace("version: 0.1.0\n    repository", "version: 0.2.0\n    repository"),
    )
    code, report = run_checks(repo, "helm-render", "policies")
    assert code == 1
    assert "demo: helm dependency build: " in failures(report, "helm-render")
    assert "common" in failures(report, "helm-render")
    assert "demo: not checked, the chart did not render" in failures(report, "policies")


def test_helm_render_requires_a_values_schema(repo: Path) -> None:
    (repo / "infrastructure/helm/demo/values.schema.json").unlink()
    code, report = run_checks(repo, "helm-render")
    assert code == 1
    assert "demo: no values.schema.json" in failures(report, "helm-render")


# --------------------------------------------------------------------------- kubernetes-schema


def test_kubernetes_schema_is_strict_and_knows_every_kind(repo: Path) -> None:
    write(
        repo,
        "infrastructure/helm/demo/templates/service.yaml",
        """
        apiVersion: v1
        kind: Service
        metadata: {name: demo}
        spec:
          ports:
            - port: 80
              targetPortt: 8080
        """,
    )
    write(
        repo,
        "infrastructure/helm/demo/templates/servicemonitor.yaml",
        """
        apiVersion: monitoring.coreos.com/v1
        kind: ServiceMonitor
        metadata: {name: demo}
        spec:
          selector: {matchLabels: {app: demo}}
          endpoints:
            - port: http
              intervall: 30s
        """,
    )
    write(
        repo,
        "infrastructure/manifests/certificate.yaml",
        """
        apiVersion: cert-manager.io/v1
        kind: Certificate
        metadata: {name: demo-tls}
        spec: {secretName: demo-tls}
        """,
    )
    write(
        repo,
        "secrets/sealed-secrets/demo.yaml",
        """
        apiVersion: bitnami.com/v1alpha1
        kind: SealedSecret
        metadata: {name: demo}
        spec:
          template: {type: Opaque}
        """,
    )
    code, report = run_checks(repo, "kubernetes-schema")
    assert code == 1
    text = failures(report, "kubernetes-schema")
    assert "Service/demo: spec.ports.0: Additional properties are not allowed ('targetPortt' was unexpected)" in text
    # The template that produced it, rendered with which environment's values; not the rendered file.
    template = "infrastructure/helm/demo/templates/service.yaml with infrastructure/helm/demo/values-dev.yaml"
    assert f"{template}: Service/demo: spec.ports.0:" in text
    assert "build/infra/rendered" not in text
    assert "ServiceMonitor/demo: spec.endpoints.0: Additional properties are not allowed ('intervall'" in text
    assert "monitoring.coreos.com_servicemonitor.json" in text
    assert "Certificate/demo-tls: unknown kind Certificate (cert-manager.io/v1)" in text
    assert "SealedSecret/demo: spec: 'encryptedData' is a required property" in text


def test_argocd_objects_found_in_manifests_go_to_the_argocd_validator(repo: Path) -> None:
    write(repo, "infrastructure/helm/demo/templates/app.yaml", APPLICATION)
    # A stand-in validator that rejects everything it is given, naming the files.
    write(
        repo,
        "infrastructure/validation/argocd-validate.mjs",
        'console.log(`rejected ${process.argv.slice(2).map((f) => f.split("/").pop()).join(" ")}`);\n'
        "process.exitCode = 1;\n",
    )
    code, report = run_checks(repo, "kubernetes-schema")
    assert code == 1
    assert "argocd-validate: rejected 000-Application-demo-dev.yaml" in failures(report, "kubernetes-schema")
    assert report["checks"]["kubernetes-schema"]["counts"]["argocd"] == 1


# --------------------------------------------------------------------------- argocd


def test_argocd_rejects_a_misspelt_application(repo: Path) -> None:
    require_wrapper("argocd-validate.mjs")
    write(repo, "infrastructure/argocd/demo.yaml", APPLICATION.replace("automated:", "automatd:"))
    code, report = run_checks(repo, "argocd")
    assert code == 1
    text = failures(report, "argocd")
    assert "Application/demo-dev" in text
    assert "automatd" in text


def test_argocd_needs_manifests(repo: Path) -> None:
    for name in ("demo.yaml", "projects.yaml"):
        (repo / "infrastructure/argocd" / name).unlink()
    code, report = run_checks(repo, "argocd")
    assert code == 1
    assert "no Argo CD manifests under infrastructure/argocd" in failures(report, "argocd")


# --------------------------------------------------------------------------- checkov


def test_checkov_fails_on_each_target_and_on_unjustified_skips(repo: Path) -> None:
    write(
        repo,
        "infrastructure/terraform/modules/bucket/main.tf",
        """
        resource "aws_s3_bucket" "data" {
          bucket = "mlops-data"
        }

        resource "aws_s3_bucket" "logs" {
          #checkov:skip=CKV_AWS_18
          bucket = "mlops-logs"
        }
        """,
    )
    write(repo, "Dockerfile", "FROM python:3.11\nUSER root\nRUN pip install mlops\n")
    write(repo, "infrastructure/helm/demo/values-dev.yaml", "replicas: 2\nprivileged: true\n")
    # An expression in cancel-in-progress is valid, but trips checkov's schema: still scanned.
    workflow = WORKFLOW.replace("github.ref", "github.event.issue.title")
    write(repo, ".github/workflows/ci.yml", workflow + "concurrency:\n  group: ci\n  cancel-in-progress: ${{ true }}\n")
    code, report = run_checks(repo, "checkov")
    assert code == 1
    text = failures(report, "checkov")
    assert "terraform: CKV_AWS_" in text
    assert "aws_s3_bucket.data (infrastructure/terraform/modules/bucket/main.tf" in text
    assert "terraform: CKV_AWS_18 skipped without a justification: aws_s3_bucket.logs" in text
    assert "dockerfile: CKV_DOCKER_2 " in text  # no HEALTHCHECK
    assert "dockerfile: CKV_DOCKER_8 " in text  # last USER is root
    assert "kubernetes: CKV_K8S_16 " in text
    assert "Deployment.demo-dev.demo-dev-app" in text
    # checkov scans the rendered file; the failure names the template it came from too.
    template = "infrastructure/helm/demo/templates/deployment.yaml with infrastructure/helm/demo/values-dev.yaml"
    assert f"({template}; rendered build/infra/rendered/demo/dev.yaml:" in text
    assert "github_actions: CKV_GHA_2 " in text  # shell injection from an issue title
    assert "cancel-in-progress expression scanned as `true`" in "\n".join(report["checks"]["checkov"]["notes"])
    counts = report["checks"]["checkov"]["counts"]
    for target in ("terraform", "kubernetes", "dockerfile", "github_actions"):
        assert counts[f"{target}_passed"] + counts[f"{target}_failed"] > 0, target


def test_checkov_says_when_it_silently_skipped_a_workflow(repo: Path) -> None:
    # Valid for GitHub, but checkov's bundled workflow schema rejects it and drops the file.
    write(repo, ".github/workflows/ci.yml", WORKFLOW.replace("contents: read", "attestations: write"))
    (repo / "Dockerfile").unlink()
    code, report = run_checks(repo, "checkov")
    assert code == 1
    text = failures(report, "checkov")
    assert "github_actions: checkov ran no check on .github/workflows" in text
    assert ".github/workflows/ci.yml: checkov skips it, its bundled workflow schema rejects permissions" in text
    assert "dockerfile: Dockerfile does not exist" in text


# --------------------------------------------------------------------------- policies


def test_policies_deny_rendered_manifests(repo: Path) -> None:
    write(
        repo,
        "infrastructure/helm/demo/values-dev.yaml",
        'privileged: true\nimage:\n  repository: registry.example.com/mlops/platform\n  tag: "latest"\n',
    )
    code, report = run_checks(repo, "policies")
    assert code == 1
    text = failures(report, "policies")
    source = "infrastructure/helm/demo/templates/deployment.yaml with infrastructure/helm/demo/values-dev.yaml"
    assert f"{source}: pod-security/privileged: Deployment/demo-dev-app container app" in text
    assert f"{source}: images/pinned: Deployment/demo-dev-app container app" in text


def test_policies_that_do_not_compile_fail_the_check(repo: Path) -> None:
    write(repo, "infrastructure/policies/broken.rego", "package kubernetes.broken\n\ndeny contains msg if {\n")
    code, report = run_checks(repo, "policies")
    assert code == 1
    assert "policies do not load" in failures(report, "policies")


# --------------------------------------------------------------------------- terraform-fmt


def test_terraform_format_validate_and_test(repo: Path) -> None:
    write(
        repo,
        "infrastructure/terraform/modules/tags/main.tf",
        'variable "team" {\ntype=string\n}\noutput "tags" {\n  value = { team = var.team }\n}\n',
    )
    write(repo, "infrastructure/terraform/modules/broken/main.tf", 'output "name" {\n  value = var.undeclared\n}\n')
    write(
        repo,
        "infrastructure/terraform/modules/cloud/main.tf",
        'resource "aws_s3_bucket" "data" {\n  bucket = "mlops-data"\n}\n',
    )
    tests = repo / "infrastructure/terraform/modules/tags/tests/tags.tftest.hcl"
    tests.write_text(tests.read_text().replace('== "ml"', '== "platform"'))
    code, report = run_checks(repo, "terraform-fmt")
    assert code == 1
    text = failures(report, "terraform-fmt")
    assert "fmt: " in text
    assert "modules/tags/main.tf" in text
    assert "infrastructure/terraform/modules/broken: terraform validate:" in text
    assert "undeclared" in text
    assert "infrastructure/terraform/modules/tags: terraform test:" in text
    assert "the team tag is wrong" in text
    notes = "\n".join(report["checks"]["terraform-fmt"]["notes"])
    assert "infrastructure/terraform/modules/cloud: checkov only, needs aws" in notes


# --------------------------------------------------------------------------- actionlint


def test_actionlint_rejects_a_bad_expression(repo: Path) -> None:
    require_wrapper("actionlint.mjs")
    write(repo, ".github/workflows/ci.yml", WORKFLOW.replace("github.ref", "github.evnt.ref"))
    code, report = run_checks(repo, "actionlint")
    assert code == 1
    text = failures(report, "actionlint")
    assert "ci.yml" in text
    assert "evnt" in text


# --------------------------------------------------------------------------- yaml


def test_yaml_reports_the_file_that_does_not_parse(repo: Path) -> None:
    write(repo, "secrets/sealed-secrets/broken.yaml", "apiVersion: v1\nkind: [Secret\n")
    code, report = run_checks(repo, "yaml")
    assert code == 1
    assert "secrets/sealed-secrets/broken.yaml:" in failures(report, "yaml")
    assert "helm/demo/templates" not in failures(report, "yaml")  # templates are Go templates


# --------------------------------------------------------------------------- missing tools


def test_missing_npm_packages_fail_loudly(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", node_modules=False)
    code, report = run_checks(root, "argocd", "actionlint")
    assert code == 1
    for check in ("argocd", "actionlint"):
        assert "missing tool: npm package" in failures(report, check)
        assert NPM_CI in failures(report, check)


def test_missing_wrapper_script_fails_loudly(repo: Path) -> None:
    (repo / "infrastructure/validation/argocd-validate.mjs").unlink(missing_ok=True)
    code, report = run_checks(repo, "argocd")
    assert code == 1
    assert "missing tool: infrastructure/validation/argocd-validate.mjs" in failures(report, "argocd")


@pytest.mark.parametrize(
    ("check", "module", "tool"),
    [
        ("helm-render", "helm_python", "helm-python-sdk"),
        ("kubernetes-schema", "kubernetes_validate", "kubernetes-validate"),
        ("policies", "regorus", "gordon-to-regorus"),
    ],
)
def test_missing_python_tools_fail_loudly(
    repo: Path, monkeypatch: pytest.MonkeyPatch, check: str, module: str, tool: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    code, report = run_checks(repo, check)
    assert code == 1
    assert f"missing tool: {tool}" in failures(report, check)
    assert "make install" in failures(report, check)


@pytest.fixture
def no_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which

    def which(name: str, *args: Any, **kwargs: Any) -> str | None:
        return None if name in {"node", "terraform", "checkov"} else real_which(name, *args, **kwargs)

    monkeypatch.setattr(shutil, "which", which)
    monkeypatch.setattr(terraform_check, "TERRAFORM_IMAGE_PATH", Path("/nonexistent/terraform"))
    monkeypatch.setattr(checkov_check, "CHECKOV_VENV", Path("/nonexistent/.venv-checkov"))


@pytest.mark.usefixtures("no_binaries")
def test_missing_binaries_fail_loudly(repo: Path) -> None:
    code, report = run_checks(repo, "terraform-fmt", "checkov", "actionlint")
    assert code == 1
    assert "missing tool: terraform" in failures(report, "terraform-fmt")
    assert "missing tool: checkov" in failures(report, "checkov")
    assert "missing tool: node" in failures(report, "actionlint")


# --------------------------------------------------------------------------- this repository


@pytest.fixture(scope="module")
def repository_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One run of every check on this repository, with the command `make validate-infra` uses."""
    out = tmp_path_factory.mktemp("infra")
    completed = subprocess.run(
        [*COMMAND, "--root", str(ROOT), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return completed, json.loads((out / "report.json").read_text(encoding="utf-8"))


@pytest.mark.e2e
def test_this_repository_passes_every_check(
    repository_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    completed, report = repository_run
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
    assert report["ok"] is True
    assert list(report["checks"]) == list(CHECKS)
    assert all(check["status"] == "passed" for check in report["checks"].values())


@pytest.mark.e2e
def test_this_repository_run_covers_every_input(
    repository_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, report = repository_run
    checks = report["checks"]
    charts = [p.parent for p in (ROOT / "infrastructure/helm").glob("*/Chart.yaml")]
    envs = sum(len(list(chart.glob("values-*.yaml"))) for chart in charts)
    assert checks["helm-render"]["counts"]["renders"] == envs > 0
    assert checks["kubernetes-schema"]["counts"]["objects"] >= checks["helm-render"]["counts"]["documents"]
    # The charts' custom resources (ServiceMonitor, KFP Pipeline, PipelineVersion, Velero
    # Schedule) are checked against infrastructure/validation/crds.
    assert checks["kubernetes-schema"]["counts"]["custom_resources"] > 0
    assert checks["argocd"]["counts"]["objects"] > 0
    for target in ("terraform", "kubernetes", "dockerfile", "github_actions"):
        counts = checks["checkov"]["counts"]
        assert counts[f"{target}_passed"] + counts[f"{target}_failed"] > 0, target
    assert checks["checkov"]["counts"]["dockerfile_skipped"] == 0
    assert checks["terraform-fmt"]["counts"]["validated"] >= 1
    assert checks["actionlint"]["counts"]["workflows"] >= 1
    # Every chart x environment is an Application the project check expanded and followed.
    assert checks["argocd-projects"]["counts"]["applications"] > envs
    assert checks["argocd-projects"]["counts"]["objects"] >= checks["helm-render"]["counts"]["documents"]
    assert checks["secret-values"]["counts"]["objects"] >= checks["helm-render"]["counts"]["documents"]
    assert checks["pinned-actions"]["counts"]["references"] >= 1


def test_the_script_path_runs_the_same_command() -> None:
    completed = subprocess.run(
        [sys.executable, str(VALIDATION / "validate.py"), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: python -m infrastructure.validation ")

"""Cluster-side operations (infrastructure.cluster, ``mlops cluster status``, the restart after
``mlops secrets rotate``, the DR drill's cluster mode) through the real ``kubernetes`` client.

No Kubernetes API server can run here: the client talks to :mod:`tests.infrastructure.fake_kube`,
an HTTP fake answering with the real API's JSON shapes. The workloads in it are the platform's
charts rendered for staging (champion and shadow serving, the feature server, the CronJobs), so
which workload reads which Vault secret comes from the real pod templates.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from infrastructure.cluster import (
    RESTARTED_AT,
    ClusterDeployment,
    ObjectRef,
    kv_path,
    load_configuration,
    read_status,
    readers_of,
    restart_readers,
    rollout_state,
    run_workload_drill,
    secret_paths,
    wait,
)
from infrastructure.cluster.status import SKIP_RECONCILE
from infrastructure.validation import render_chart
from infrastructure.validation.applications import expand_applications
from infrastructure.validation.manifests import Manifest, load_yaml_documents
from infrastructure.validation.values import coalesce, release_values
from mlops.errors import ClusterError, ClusterUnavailableError
from mlops_cli import cluster as cluster_cli
from mlops_cli.main import app
from tests.infrastructure.fake_kube import FakeKube, cluster_for, fake_kube_server
from tests.servers import OpenBao, free_port

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / "infrastructure" / "helm"
ENV, NS = "staging", "mlops-staging"
FEATURE_STORE = "secret/mlops/staging/feature-store"
# Every optional workload on: the shadow challenger in its own Deployment, the Feast feature server.
OVERRIDES: dict[str, dict[str, Any]] = {
    "serving": {"shadow": {"mode": "deployment"}},
    "feature-store": {"featureServer": {"enabled": True}},
}


def render(chart: str, env: str = ENV) -> list[dict[str, Any]]:
    """The chart as Argo CD renders it for ``env``: values.yaml, the Terraform outputs' file
    (when there is one), values-<env>.yaml, then the overrides above."""
    values = release_values(HELM / chart, env)
    rendered = render_chart(
        HELM / chart, coalesce(values, OVERRIDES.get(chart, {})), release=chart, namespace=f"mlops-{env}"
    )
    return [
        doc for name, text in sorted(rendered.items()) if name.endswith(".yaml") for doc in load_yaml_documents(text)
    ]


def chart_workloads() -> list[dict[str, Any]]:
    charts = sorted(p.parent.name for p in HELM.glob("*/Chart.yaml") if p.parent.name != "platform-lib")
    return [d for chart in charts for d in render(chart) if d["kind"] in ("Deployment", "StatefulSet", "CronJob")]


def application_set(preserve_skip_reconcile: bool) -> dict[str, Any]:
    (appset,) = [d for d in yaml.safe_load_all((ROOT / "infrastructure/argocd/applicationset.yaml").read_text()) if d]
    appset.setdefault("metadata", {})["namespace"] = "argocd"
    preserved = appset["spec"].setdefault("preservedFields", {}).setdefault("annotations", [])
    if preserve_skip_reconcile and SKIP_RECONCILE not in preserved:
        preserved.append(SKIP_RECONCILE)
    if not preserve_skip_reconcile and SKIP_RECONCILE in preserved:
        preserved.remove(SKIP_RECONCILE)
    return appset


def applications(appset: dict[str, Any], env: str) -> list[dict[str, Any]]:
    """The Applications the ApplicationSet generates for ``env``, as Argo CD stores them: owned by
    the ApplicationSet, with a status."""
    expanded, problems = expand_applications(Manifest("infrastructure/argocd/applicationset.yaml", appset))
    assert not problems
    found = []
    for _, body in expanded:
        if body["metadata"]["labels"]["mlops-platform/env"] != env:
            continue
        body = json.loads(json.dumps(body))
        body["metadata"]["namespace"] = "argocd"
        owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": appset["metadata"]["name"]}
        body["metadata"]["ownerReferences"] = [owner]
        body["status"] = {"sync": {"status": "Synced", "revision": "4b8900b" * 6}, "health": {"status": "Healthy"}}
        found.append(body)
    assert found, f"no Application for {env}"
    return found


@pytest.fixture(scope="module")
def workloads() -> list[dict[str, Any]]:
    return chart_workloads()


def foreign(kind: str, name: str, secret: str | None) -> dict[str, Any]:
    """Another team's workload in the namespace (no platform labels), reading ``secret`` or nothing."""
    annotations = (
        {"vault.hashicorp.com/agent-inject-secret-x": secret.replace("/mlops/", "/data/mlops/")} if secret else {}
    )
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": [{"name": "c", "image": "registry.example/other:1.2"}]},
            },
        },
    }


@pytest.fixture
def fake(workloads: list[dict[str, Any]]) -> Iterator[FakeKube]:
    with fake_kube_server() as server:
        for obj in workloads:
            server.add(obj)
        server.add(foreign("StatefulSet", "other-cache", FEATURE_STORE))
        server.add(foreign("Deployment", "other-web", None))
        appset = application_set(preserve_skip_reconcile=True)
        server.add(appset)
        for application in applications(appset, ENV):
            server.add(application)
        yield server


def names(refs: list[ObjectRef]) -> list[str]:
    return [ref.kubectl for ref in refs]


def no_wait(_seconds: float) -> None:
    pass


# --------------------------------------------------------------------------- which workloads read a secret
def test_the_charts_name_the_secrets_their_pods_read(workloads: list[dict[str, Any]]) -> None:
    by_name = {d["metadata"]["name"]: d for d in workloads}
    assert {"serving-champion", "serving-shadow", "feature-store-server"} <= set(by_name)
    champion = by_name["serving-champion"]["spec"]["template"]
    assert secret_paths(champion) == {FEATURE_STORE}


def test_secret_paths_come_from_the_annotations_and_the_templates() -> None:
    template = {
        "metadata": {
            "annotations": {
                "vault.hashicorp.com/agent-inject-secret-a.env": "secret/data/mlops/prod/a",
                "vault.hashicorp.com/agent-inject-template-pgpass": (
                    '{{- with secret "secret/data/mlops/prod/b" -}}x{{ end }}'
                    '{{- with secret (printf "secret/data/mlops/%s/c" "prod") -}}y{{ end }}'
                ),
                "vault.hashicorp.com/role": "secret/data/mlops/prod/not-a-secret",
            }
        }
    }
    assert secret_paths(template) == {"secret/mlops/prod/a", "secret/mlops/prod/b", "secret/mlops/prod/c"}
    assert secret_paths({"metadata": {}}) == set()
    assert kv_path("vault://secret/mlops/prod/a#key") == kv_path("secret/data/mlops/prod/a") == "secret/mlops/prod/a"


def test_the_readers_of_a_secret_are_exactly_the_workloads_whose_pods_read_it(workloads: list[dict[str, Any]]) -> None:
    readers = readers_of(workloads, f"vault://{FEATURE_STORE}#redis_password")
    assert names(readers.restart) == [
        "deployment/feature-store-server",
        "deployment/serving-champion",
        "deployment/serving-shadow",
    ]
    # CronJobs are not restarted: their next run starts new pods, which read the new version.
    assert "cronjob/feature-store-materialize" in names(readers.next_run)
    assert all(ref.kind == "CronJob" for ref in readers.next_run)
    # The backup key is read by the backups' CronJobs only; another environment's secret by nothing.
    backup = readers_of(workloads, "secret/mlops/staging/backup")
    assert backup.restart == []
    assert names(backup.next_run)
    assert all("backups" in n for n in names(backup.next_run))
    assert readers_of(workloads, "secret/mlops/prod/feature-store") == readers_of([], "secret/mlops/prod/feature-store")


def test_restart_patches_only_the_readers_and_waits_until_they_rolled_out(fake: FakeKube) -> None:
    lines: list[str] = []
    result = restart_readers(cluster_for(fake), NS, FEATURE_STORE, poll_s=0, sleep=no_wait, progress=lines.append)
    # Whoever reads the old value restarts, the other team's StatefulSet too.
    assert names(result.restarted) == [
        "deployment/feature-store-server",
        "deployment/serving-champion",
        "deployment/serving-shadow",
        "statefulset/other-cache",
    ]
    patched = sorted(r.path.rsplit("/", 1)[-1] for r in fake.patches())
    assert patched == ["feature-store-server", "other-cache", "serving-champion", "serving-shadow"]
    for request in fake.patches():
        # kubectl rollout restart's patch: a strategic merge of one pod template annotation.
        assert request.content_type == "application/strategic-merge-patch+json"
        stamp = request.body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
        assert stamp.endswith("Z")
        assert "T" in stamp
    champion = fake.get("deployments", NS, "serving-champion")
    assert champion["metadata"]["generation"] == 2
    assert champion["status"]["observedGeneration"] == 2  # waited for, not just patched
    assert RESTARTED_AT in champion["spec"]["template"]["metadata"]["annotations"]
    cache = fake.get("statefulsets", NS, "other-cache")
    assert cache["status"]["updateRevision"] == cache["status"]["currentRevision"] == "rev-2"
    assert RESTARTED_AT not in json.dumps(fake.get("deployments", NS, "other-web"))
    assert any(line.startswith("deployment/serving-champion: rolled out") for line in lines)
    untouched = fake.get("cronjobs", NS, "feature-store-materialize")
    assert RESTARTED_AT not in json.dumps(untouched)


# --------------------------------------------------------------------------- rollout status
def deployment(generation: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": NS, "generation": generation},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 1, **status},
    }


@pytest.mark.parametrize(
    ("obj", "done", "says"),
    [
        (deployment(2, replicas=2, updatedReplicas=2, availableReplicas=2), False, "to be observed"),
        (deployment(replicas=2, updatedReplicas=1, availableReplicas=1), False, "1 of 2 updated replicas"),
        (deployment(replicas=3, updatedReplicas=2, availableReplicas=2), False, "1 old replicas pending termination"),
        (deployment(replicas=2, updatedReplicas=2, availableReplicas=1), False, "1 of 2 updated replicas available"),
        (deployment(replicas=2, updatedReplicas=2, availableReplicas=2), True, "rolled out"),
    ],
)
def test_rollout_state_follows_kubectl(obj: dict[str, Any], done: bool, says: str) -> None:
    state = rollout_state(obj)
    assert (state.done, says in state.message) == (done, True), state


def test_statefulset_rollout_waits_for_the_update_revision() -> None:
    sts: dict[str, Any] = {
        "kind": "StatefulSet",
        "metadata": {"name": "s", "generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": 2,
            "updatedReplicas": 1,
            "currentRevision": "a",
            "updateRevision": "b",
        },
    }
    assert not rollout_state(sts).done
    assert "pods at revision b" in rollout_state(sts).message
    sts["status"] |= {"currentRevision": "b", "updatedReplicas": 2, "replicas": 2}
    assert rollout_state(sts).done


def test_a_rollout_that_does_not_finish_fails_naming_it(fake: FakeKube) -> None:
    fake.stuck.add("serving-champion")
    clock = itertools.count(0.0, 10.0)  # each look at the clock: 10 s later
    with pytest.raises(ClusterError) as failure:
        restart_readers(
            cluster_for(fake), NS, FEATURE_STORE, timeout_s=60, poll_s=0, sleep=no_wait, clock=lambda: next(clock)
        )
    message = str(failure.value)
    assert message.startswith("not finished after 60 s: deployment/serving-champion in mlops-staging (")
    assert "spec update to be observed" in message
    assert "serving-shadow" not in message
    assert "\n" not in message


def test_a_deployment_past_its_progress_deadline_fails_at_once(fake: FakeKube) -> None:
    obj = fake.get("deployments", NS, "serving-shadow")
    obj["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(
        ClusterError, match=r'deployment/serving-shadow in mlops-staging: deployment "serving-shadow" exceeded'
    ):
        wait(cluster_for(fake), [ObjectRef("Deployment", NS, "serving-shadow")], poll_s=0, sleep=no_wait)


# --------------------------------------------------------------------------- status
def test_status_reads_the_workloads_and_argo_cd(fake: FakeKube) -> None:
    status = read_status(cluster_for(fake), ENV)
    by_name = {w.name: w for w in status.workloads}
    champion, shadow = by_name["serving-champion"], by_name["serving-shadow"]
    assert (champion.component, champion.desired, champion.ready, champion.done) == ("champion", 2, 2, True)
    assert shadow.component == "shadow"
    tag = fake.get("deployments", NS, "serving-champion")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert champion.images == [tag.rsplit(":", 1)[1]]
    assert by_name["feature-store-materialize"].kind == "CronJob"
    assert not {"other-cache", "other-web"} & set(by_name)  # the platform's workloads only
    assert {a.name for a in status.applications} >= {"serving-staging", "feature-store-staging", "backups-staging"}
    assert all(a.automated and a.sync == "Synced" for a in status.applications)
    assert status.healthy


def test_status_cli_table_and_json(fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig()))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    fake.stuck.add("serving-shadow")
    fake.get("deployments", NS, "serving-shadow")["metadata"]["generation"] = 5  # a rollout under way
    monkeypatch.setattr(cluster_cli.console, "width", 250)  # one table row per line
    runner = CliRunner()
    as_json = runner.invoke(app, ["cluster", "status", "--env", ENV, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["namespace"] == NS
    assert data["healthy"] is False
    shadow = next(w for w in data["workloads"] if w["name"] == "serving-shadow")
    assert shadow["done"] is False
    assert "to be observed" in shadow["state"]
    table = runner.invoke(app, ["cluster", "status", "--env", ENV])
    assert table.exit_code == 0, table.output
    row = next(line for line in table.output.splitlines() if "serving-champion" in line)
    assert "Deployment" in row
    assert "champion" in row
    assert "2/2" in row
    assert "rolled out" in row
    assert "serving-staging" in table.output
    assert "Synced" in table.output


def test_status_names_an_argo_cd_it_cannot_read(fake: FakeKube) -> None:
    fake.forbidden.add("applications")
    status = read_status(cluster_for(fake), ENV)
    assert status.workloads
    assert status.applications == []
    assert status.applications_error is not None
    assert status.applications_error.startswith("list Argo CD applications in argocd: 403 Forbidden: applications.")


# --------------------------------------------------------------------------- no cluster
def test_no_kubeconfig_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterUnavailableError) as failure:
        load_configuration()
    message = str(failure.value)
    assert message.startswith(f"no Kubernetes configuration: the kubeconfig {tmp_path / 'missing'} cannot be used")
    assert "not a pod with a service account" in message
    assert "\n" not in message
    result = CliRunner().invoke(app, ["cluster", "status", "--env", ENV])
    assert result.exit_code != 0
    assert isinstance(result.exception, ClusterUnavailableError)


def test_an_unknown_context_is_named(fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig("fake")))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert load_configuration().host == fake.url
    with pytest.raises(ClusterUnavailableError, match="context 'prod-eu' of the kubeconfig"):
        load_configuration("prod-eu")


def test_an_api_server_that_does_not_answer_is_one_line() -> None:
    from kubernetes import client

    from infrastructure.cluster import Cluster

    configuration = client.Configuration(host=f"http://127.0.0.1:{free_port()}")
    configuration.retries = 0
    with pytest.raises(
        ClusterUnavailableError,
        match=r"list deployments in mlops-staging: the Kubernetes API at http://127\.0\.0\.1:\d+ does not answer",
    ):
        read_status(Cluster(client.ApiClient(configuration)), ENV)


def test_a_refused_request_names_the_object_and_the_reason(fake: FakeKube) -> None:
    with pytest.raises(
        ClusterError,
        match=r'^read deployment/nope in mlops-staging: 404 Not Found: deployments\.apps "nope" not found$',
    ):
        cluster_for(fake).read_workload(ObjectRef("Deployment", NS, "nope"))


# --------------------------------------------------------------------------- the DR drill's cluster part
def test_the_drill_scales_everything_down_then_back_as_it_was(fake: FakeKube) -> None:
    cluster = cluster_for(fake)
    deployment = ClusterDeployment(cluster, ENV, poll_s=0, sleep=no_wait)
    before = {w.name: w.desired for w in deployment.snapshot()}
    assert before["serving-champion"] == 2

    deployment.destroy()
    for name in before:
        obj = fake.get("deployments", NS, name)
        assert (obj["spec"]["replicas"], obj["status"]["replicas"]) == (0, 0), name
    cronjobs = [o for k, o in fake.objects.items() if k[0] == "cronjobs"]
    assert cronjobs
    assert all(o["spec"]["suspend"] is True for o in cronjobs)
    apps = [o for k, o in fake.objects.items() if k[0] == "applications"]
    assert all(o["metadata"]["annotations"][SKIP_RECONCILE] == "true" for o in apps)
    # Argo CD is paused before the first scale, so self-heal cannot scale back mid-drill.
    order = [r.path for r in fake.patches()]
    first_scale = next(i for i, p in enumerate(order) if p.endswith("/scale"))
    assert all("/applications/" in p for p in order[: len(apps)])
    assert first_scale > len(apps)

    deployment.recreate()  # the stores are outside the cluster: nothing to do
    deployment.after_restore()
    for name, replicas in before.items():
        obj = fake.get("deployments", NS, name)
        assert obj["spec"]["replicas"] == replicas, name
        assert rollout_state(obj).done, name
    assert all(not o["spec"]["suspend"] for o in cronjobs)
    assert all(SKIP_RECONCILE not in (o["metadata"].get("annotations") or {}) for o in apps)
    assert not [r for r in fake.patches() if "/other-" in r.path]  # another team's workloads are left alone


def test_the_workload_drill_reports_rto_and_finds_nothing_changed(fake: FakeKube) -> None:
    deployment = ClusterDeployment(cluster_for(fake), ENV, poll_s=0, sleep=no_wait)
    report = run_workload_drill(deployment)
    assert report.passed, report.differences
    assert report.workloads["deployment/serving-champion"] == 2
    assert set(report.phases) == {"scale down", "scale up"}
    assert report.rto_s >= 0
    assert "serving-staging" in report.paused_applications
    assert "cronjob/backups-nightly" in report.suspended_cronjobs


def test_the_drill_refuses_when_argo_cd_would_undo_it(fake: FakeKube) -> None:
    appset = application_set(preserve_skip_reconcile=False)
    fake.add(appset)
    deployment = ClusterDeployment(cluster_for(fake), ENV, poll_s=0, sleep=no_wait)
    with pytest.raises(
        ClusterError, match=r"its ApplicationSet mlops-workloads does not keep the argocd\.argoproj\.io/skip-reconcile"
    ):
        deployment.destroy()
    assert fake.patches() == []  # nothing was changed


def test_prod_needs_no_pause_its_sync_is_manual(workloads: list[dict[str, Any]]) -> None:
    with fake_kube_server() as server:
        appset = application_set(preserve_skip_reconcile=False)
        server.add(appset)
        for application in applications(appset, "prod"):
            server.add(application)
        deployment = ClusterDeployment(cluster_for(server), "prod", poll_s=0, sleep=no_wait)
        deployment.destroy()  # no Deployment in mlops-prod here: only the Argo CD check runs
        assert deployment.paused == []
        assert server.patches() == []


def test_the_drill_does_not_start_on_an_unsettled_environment(fake: FakeKube) -> None:
    fake.get("deployments", NS, "serving-shadow")["status"]["availableReplicas"] = 0
    with pytest.raises(ClusterError, match="did not start: deployment/serving-shadow in mlops-staging"):
        run_workload_drill(ClusterDeployment(cluster_for(fake), ENV, poll_s=0, sleep=no_wait))
    assert fake.patches() == []


def test_a_scale_up_that_never_finishes_fails_and_says_how_to_undo(
    fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig()))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    original = fake._read

    def read(key: tuple[str, str, str]) -> dict[str, Any]:
        # The champion goes down as asked and then never comes back up.
        obj = fake.objects[key]
        if key[2] == "serving-champion" and obj["spec"].get("replicas"):
            fake.stuck.add("serving-champion")
        return original(key)

    monkeypatch.setattr(fake, "_read", read)
    fake.settle_after = 1
    result = CliRunner().invoke(
        app, ["dr", "drill", "--env", ENV, "--yes", "--timeout", "1", "--out", str(tmp_path / "drill")]
    )
    assert isinstance(result.exception, ClusterError), result.output
    message = str(result.exception)
    assert message.startswith("not finished after 1 s: deployment/serving-champion in mlops-staging")
    assert "kubectl -n mlops-staging scale deployment/serving-champion --replicas=2" in message
    assert f"kubectl -n argocd annotate application serving-staging {SKIP_RECONCILE}-" in message


def test_the_cli_drill_writes_its_report(fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig()))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    fake.settle_after = 1  # the command polls every 2 s: each change settles at its first read
    refused = CliRunner().invoke(app, ["dr", "drill", "--env", ENV], input="n\n")
    assert refused.exit_code != 0
    assert fake.patches() == []
    result = CliRunner().invoke(app, ["dr", "drill", "--env", ENV, "--yes", "--out", str(tmp_path / "drill")])
    assert result.exit_code == 0, result.output
    assert "cluster drill back as before" in result.output
    report = json.loads((tmp_path / "drill" / "drill.json").read_text())
    assert report["passed"]
    assert report["workloads"]["deployment/serving-champion"] == 2


# --------------------------------------------------------------------------- mlops secrets rotate --restart
def run_mlops(*args: str, cwd: Path, vault: OpenBao, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "KUBE"))}
    env |= {"VAULT_ADDR": vault.address, "VAULT_TOKEN": vault.root_token, "KUBECONFIG": str(kubeconfig)}
    env["COLUMNS"] = "250"
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_rotate_restarts_the_readers_or_says_what_to_restart(
    openbao: OpenBao, vault_root: Any, fake: FakeKube, tmp_path: Path
) -> None:
    (tmp_path / "config").symlink_to(ROOT / "config")
    vault_root.secrets.kv.v2.create_or_update_secret(path="mlops/staging/feature-store", secret={"redis_password": "f"})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig()))
    target = f"vault://{FEATURE_STORE}#redis_password"
    fake.settle_after = 1  # the command polls every 2 s: each restart settles at its first read

    out = run_mlops("secrets", "rotate", target, "--env", ENV, cwd=tmp_path, vault=openbao, kubeconfig=kubeconfig)
    assert out.returncode == 0, out.stderr
    assert f"rotated {FEATURE_STORE} (keys: redis_password)" in out.stdout
    assert (
        "restarted and rolled out in mlops-staging: deployment/feature-store-server, deployment/serving-champion, "
        "deployment/serving-shadow, statefulset/other-cache"
    ) in out.stdout
    assert "read at their next run: cronjob/backups-hourly" in out.stdout
    assert len(fake.patches()) == 4

    # No cluster configured: the rotation stands, one line says what to restart by hand.
    gone = run_mlops(
        "secrets", "rotate", target, "--env", ENV, cwd=tmp_path, vault=openbao, kubeconfig=tmp_path / "none"
    )
    assert gone.returncode == 0, gone.stderr
    assert "→ version 3" in gone.stdout
    lines = [line for line in gone.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("workloads not restarted (no Kubernetes configuration")
    assert (
        "kubectl -n mlops-staging rollout restart deployment,statefulset -l app.kubernetes.io/part-of=mlops-platform"
        in lines[0]
    )

    # A restart that does not finish: exit 1, one line saying the rotation itself happened.
    fake.stuck.add("serving-shadow")
    slow = run_mlops(
        "secrets",
        "rotate",
        target,
        "--env",
        ENV,
        "--rollout-timeout",
        "1",
        cwd=tmp_path,
        vault=openbao,
        kubeconfig=kubeconfig,
    )
    assert slow.returncode == 1
    assert slow.stderr.count("\n") == 1
    assert slow.stderr.startswith(
        f"error: {FEATURE_STORE} was rotated, but restarting the workloads that read it failed: "
        "not finished after 1 s: deployment/serving-shadow in mlops-staging"
    )
    assert "→ version 4" in slow.stdout
    fake.stuck.clear()
    patched = len(fake.patches())

    # --no-restart leaves the cluster alone.
    quiet = run_mlops(
        "secrets", "rotate", target, "--env", ENV, "--no-restart", cwd=tmp_path, vault=openbao, kubeconfig=kubeconfig
    )
    assert quiet.returncode == 0
    assert len(fake.patches()) == patched
    assert "restarted" not in quiet.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["cluster", "status", "--env", "local-stack"],
            "a cluster environment (dev, staging, prod), not 'local-stack'",
        ),
        (["dr", "drill", "--env", "dev"], "local-stack, staging or prod, not 'dev'"),
    ],
)
def test_an_environment_without_a_cluster_is_a_usage_error(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert says in " ".join(word for word in result.output.split() if word != "│")  # rich's error box


@pytest.mark.parametrize(
    ("sync_policy", "automated"),
    [
        ({}, False),
        ({"automated": {}}, True),
        ({"automated": {"selfHeal": True}}, True),
        ({"automated": {"enabled": False}}, False),
    ],
)
def test_which_applications_sync_by_themselves(sync_policy: dict[str, Any], automated: bool) -> None:
    from infrastructure.cluster import Application

    app_object = {"metadata": {"name": "serving-prod"}, "spec": {"syncPolicy": sync_policy}}
    assert Application.of(app_object).automated is automated

"""Vault's private CA reaches every client (issue 13, item 3).

- mlops.secrets verifies a TLS OpenBao (``bao server -dev-tls``, its own CA) with ``vault.ca_cert``
  or ``VAULT_CACERT``, and fails with a one-line reason without it or with a missing file.
- The validator (``policies`` with ``infrastructure/policies/vault_ca.rego``, and ``vault-ca``)
  passes the repository and fails, naming the template, values file and pod, when a values
  override drops the CA, when the documented Vault values lose TLS or ``retry_join``, and when
  the KFP step pods' CA differs from the charts'.
"""

from __future__ import annotations

import shutil
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import hvac
import pytest
import yaml

from infrastructure.validation.checks.vault_ca import kfp_ca, vault_values_problems
from mlops.config import TokenAuthConfig, VaultConfig
from mlops.errors import SecretError
from mlops.secrets import SecretResolver
from performance.servers import HOST, free_port, running
from tests.infrastructure.validator import failures, run_checks
from tests.servers import venv_binary

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-root-vault-ca"  # pragma: allowlist secret
SERVING_PROD = "infrastructure/helm/serving/values-prod.yaml"
BACKUPS_STAGING = "infrastructure/helm/backups/values-staging.yaml"
VAULT_VALUES = "secrets/vault/helm-values.yaml"
KFP_DEFAULTS = "secrets/vault/kfp-workflow-defaults.yaml"


# --------------------------------------------------------------------------- a TLS OpenBao


def _tls_ready(url: str, ca: Path) -> Callable[[], bool]:
    def check() -> bool:
        if not ca.is_file():
            return False
        try:
            context = ssl.create_default_context(cafile=str(ca))
            with urllib.request.urlopen(url, timeout=1, context=context) as response:
                return bool(response.status == 200)
        except (OSError, ssl.SSLError):
            return False

    return check


@pytest.fixture(scope="module")
def tls_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An OpenBao dev server listening with TLS, its certificate from a CA it writes: (address, CA file)."""
    workdir = tmp_path_factory.mktemp("openbao-tls")
    (workdir / "token").write_text(TOKEN, encoding="utf-8")
    certs = workdir / "certs"
    certs.mkdir()
    port = free_port()
    address = f"https://{HOST}:{port}"
    cmd = [
        str(venv_binary("bao")),
        "server",
        "-dev",
        "-dev-tls",
        f"-dev-tls-cert-dir={certs}",
        f"-dev-root-token-id={TOKEN}",
        f"-dev-listen-address={HOST}:{port}",
        "-dev-no-store-token",
    ]
    ca = certs / "vault-ca.pem"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    with running(
        cmd, _tls_ready(f"{address}/v1/sys/health", ca), workdir / "openbao.log", name="OpenBao (TLS)", env=env
    ):
        client = hvac.Client(url=address, token=TOKEN, verify=str(ca))
        client.secrets.kv.v2.create_or_update_secret(
            path="mlops/prod/privacy",
            secret={"pii_hash_key": "v1"},  # pragma: allowlist secret
            mount_point="secret",
        )
        yield address, ca


def token_auth(tls: tuple[str, Path]) -> TokenAuthConfig:
    """Token auth from the file the fixture wrote (config takes references, never a literal)."""
    return TokenAuthConfig(token=f"file://{tls[1].parent.parent / 'token'}")


REFERENCE = "vault://secret/mlops/prod/privacy#pii_hash_key"


def test_the_ca_from_the_platform_config_verifies_vault(tls_openbao: tuple[str, Path]) -> None:
    address, ca = tls_openbao
    config = VaultConfig(address=address, auth=token_auth(tls_openbao), ca_cert=ca)
    assert SecretResolver(config, environ={}).resolve(REFERENCE) == "v1"


def test_vault_cacert_in_the_environment_verifies_vault(
    tls_openbao: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a pod gets: the chart (or KFP's workflow defaults) sets VAULT_CACERT, the config names no CA.
    address, ca = tls_openbao
    for name, value in {"VAULT_ADDR": address, "VAULT_TOKEN": TOKEN, "VAULT_CACERT": str(ca)}.items():
        monkeypatch.setenv(name, value)
    assert SecretResolver(VaultConfig()).resolve(REFERENCE) == "v1"


def test_without_the_ca_verification_fails_with_the_reason(tls_openbao: tuple[str, Path]) -> None:
    address, _ = tls_openbao
    resolver = SecretResolver(VaultConfig(address=address, auth=token_auth(tls_openbao)), environ={})
    with pytest.raises(SecretError) as caught:
        resolver.resolve(REFERENCE)
    message = str(caught.value)
    assert "TLS certificate verification failed against the system trust store" in message
    assert "VAULT_CACERT" in message
    assert "\n" not in message


def test_a_missing_ca_file_is_named(tls_openbao: tuple[str, Path], tmp_path: Path) -> None:
    address, _ = tls_openbao
    missing = tmp_path / "no-ca.crt"
    config = VaultConfig(address=address, auth=token_auth(tls_openbao), ca_cert=missing)
    with pytest.raises(SecretError, match=f"VAULT_CACERT {missing}: no such file"):
        SecretResolver(config, environ={}).resolve(REFERENCE)


# --------------------------------------------------------------------------- the validator


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the charts, policies and secrets/ (the npm validators are not needed here)."""
    root = tmp_path / "repo"
    for name in ("infrastructure", "secrets"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("node_modules", ".terraform"))
    return root


def append(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{relative} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_every_rendered_vault_client_gets_the_ca(repo: Path) -> None:
    code, report = run_checks(repo, "policies", "vault-ca")
    assert code == 0, failures(report, "policies") + failures(report, "vault-ca")
    # Serving (champion, shadow) and the feature store in each environment, and the backups' jobs.
    assert report["checks"]["vault-ca"]["counts"]["pods"] >= 12
    rendered = (repo / "build/infra/rendered/serving/prod.yaml").read_text(encoding="utf-8")
    deployments = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]
        annotations = pod["metadata"]["annotations"]
        assert annotations["vault.hashicorp.com/tls-secret"] == "vault-ca"  # pragma: allowlist secret
        assert annotations["vault.hashicorp.com/ca-cert"] == "/vault/tls/ca.crt"
        (container,) = pod["spec"]["containers"]
        assert {"name": "VAULT_CACERT", "value": "/vault/tls/ca.crt"} in container["env"]
        assert {"name": "vault-ca", "mountPath": "/vault/tls", "readOnly": True} in container["volumeMounts"]
        ca_secret = {"secretName": "vault-ca", "defaultMode": 0o444}  # pragma: allowlist secret
        ca_volume = {"name": "vault-ca", "secret": ca_secret}
        assert ca_volume in pod["spec"]["volumes"]


def test_a_values_override_that_drops_the_ca_fails_naming_the_pod(repo: Path) -> None:
    append(repo, SERVING_PROD, 'vault:\n  caSecret: ""\n')
    code, report = run_checks(repo, "policies")
    assert code == 1
    text = failures(report, "policies")
    source = f"infrastructure/helm/serving/templates/deployment.yaml with {SERVING_PROD}"
    assert (
        f"{source}: vault/ca-cert: Deployment/serving-champion: the Vault Agent is injected but the pod template "
        "has no vault.hashicorp.com/tls-secret (a Secret with Vault's CA, ca.crt), so the agent cannot verify Vault's "
        f'certificate ({SERVING_PROD} sets vault.caSecret: "")'
    ) in text
    assert (
        "vault/ca-env: Deployment/serving-champion container serving: can reach Vault (VAULT_ADDR or MLOPS_ENV) "
        "but has no VAULT_CACERT"
    ) in text
    # Only prod's serving release changed.
    assert all("serving" in line and "values-prod" in line for line in report["checks"]["policies"]["failures"])


def test_a_ca_path_outside_the_injector_mount_fails(repo: Path) -> None:
    # The schema allows only /vault/tls/<file>: the injector mounts tls-secret nowhere else.
    append(repo, BACKUPS_STAGING, "vault:\n  caCertPath: /etc/ssl/vault-ca.crt\n")
    code, report = run_checks(repo, "helm-render")
    assert code == 1
    assert (
        f'backups/staging: {BACKUPS_STAGING}: vault.caCertPath: "/etc/ssl/vault-ca.crt" does not match the pattern '
        "^/vault/tls/[^/]+$"
    ) in failures(report, "helm-render")


def test_a_container_whose_ca_is_not_mounted_fails(repo: Path) -> None:
    # A template that sets VAULT_CACERT but forgets the volume.
    edit(
        repo,
        "infrastructure/helm/backups/templates/_backups.tpl",
        '                {{- include "platform.vaultCaVolumeMount" $ | nindent 16 }}\n',
        "",
    )
    code, report = run_checks(repo, "policies")
    assert code == 1
    assert (
        'vault/ca-env: CronJob/backups-nightly container nightly: VAULT_CACERT is "/vault/tls/ca.crt" but no '
        "Secret volume is mounted over it"
    ) in failures(report, "policies")


def test_the_documented_vault_values_need_tls_and_retry_join(repo: Path) -> None:
    edit(repo, VAULT_VALUES, "tlsDisable: false", "tlsDisable: true")
    values = repo / VAULT_VALUES
    text = values.read_text(encoding="utf-8")
    first_join = text.index("          retry_join {")
    end = text.index("          }\n", first_join) + len("          }\n")
    values.write_text(text[:first_join] + text[end:], encoding="utf-8")
    code, report = run_checks(repo, "vault-ca")
    assert code == 1
    text = failures(report, "vault-ca")
    assert f"{VAULT_VALUES}: global.tlsDisable: expected false" in text
    assert (
        f'{VAULT_VALUES}: server.ha.raft.config: storage "raft" has 2 retry_join blocks, expected one per replica (3)'
    ) in text


def test_vault_values_rules() -> None:
    values = yaml.safe_load((ROOT / VAULT_VALUES).read_text(encoding="utf-8"))
    assert vault_values_problems(values) == []
    values["server"]["volumeMounts"] = []
    problems = vault_values_problems(values)
    assert any("tls_cert_file" in p and "expected a file under a Secret" in p for p in problems)
    assert sum("leader_ca_cert_file" in p for p in problems) == 3
    values["server"]["ha"]["raft"]["config"] = values["server"]["ha"]["raft"]["config"].replace("https://", "http://")
    assert any(
        "leader_api_addr 'http://vault-0.vault-internal:8200': expected https://" in p
        for p in vault_values_problems(values)
    )


def test_kfp_step_pods_use_the_charts_ca(repo: Path) -> None:
    assert kfp_ca(yaml.safe_load((ROOT / KFP_DEFAULTS).read_text(encoding="utf-8"))) == (
        "/vault/tls/ca.crt",
        "vault-ca",
    )
    edit(repo, KFP_DEFAULTS, "secretName: vault-ca", "secretName: vault-tls")
    code, report = run_checks(repo, "vault-ca")
    assert code == 1
    text = failures(report, "vault-ca")
    assert (
        f"{KFP_DEFAULTS}: KFP step pods read Vault's CA from /vault/tls/ca.crt in Secret vault-tls, but "
        "infrastructure/helm/serving/templates/deployment.yaml with infrastructure/helm/serving/values-prod.yaml "
        "(Deployment/serving-champion) from /vault/tls/ca.crt in Secret vault-ca: expected the same vault.caCertPath "
        "and vault.caSecret"
    ) in text


def test_kfp_defaults_without_vault_cacert_fail() -> None:
    patch = yaml.safe_load((ROOT / KFP_DEFAULTS).read_text(encoding="utf-8"))
    patch["data"]["workflowDefaults"] = patch["data"]["workflowDefaults"].replace("VAULT_CACERT", "VAULT_CAPATH")
    with pytest.raises(ValueError, match="container main has no VAULT_CACERT"):
        kfp_ca(patch)

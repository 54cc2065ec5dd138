# Vault listens with a certificate from a private CA (docs/platform/bootstrap.md, stage 2), so
# every Vault client in a pod needs that CA or it fails verification on its first request:
# - vault/ca-cert: a pod the Vault Agent injector serves (agent-inject "true") against an https
#   Vault carries vault.hashicorp.com/tls-secret (the injector mounts it at /vault/tls in the
#   agent containers) and vault.hashicorp.com/ca-cert naming a file under /vault/tls/.
# - vault/ca-env: a container that can reach Vault itself (VAULT_ADDR set, or MLOPS_ENV, whose
#   platform config names Vault for vault:// references) has VAULT_CACERT pointing into a mounted
#   Secret volume; pods declaring mlops.platform/reads-secrets "false" are exempt.  # pragma: allowlist secret
# - vault/ca-same: the app containers and the agent read the same CA (one value: vault.caSecret
#   and vault.caCertPath, platform-lib's platform.vaultCaSecret).
package kubernetes.vault_ca

import data.lib.workloads as w
import rego.v1

inject_key := "vault.hashicorp.com/agent-inject"

tls_secret_key := "vault.hashicorp.com/tls-secret"

ca_cert_key := "vault.hashicorp.com/ca-cert"

annotations := w.pod_annotations(input)

injected if object.get(annotations, inject_key, "") == "true"

# The injector's target; an http Vault (a dev cluster at most) needs no CA.
https_vault if not startswith(object.get(annotations, "vault.hashicorp.com/service", ""), "http://")

# "(infrastructure/helm/x/values-prod.yaml sets vault.caSecret: "")"
ca_dropped_by := {sprintf("%s sets %s: %v", [v.file, v.key, json.marshal(v.value)]) |
	some v in object.get(data, ["inventory", "values"], [])
	v.key in {"vault.caSecret", "vault.caCertPath"}
}

hint := sprintf(" (%s)", [concat("; ", sort(ca_dropped_by))]) if {
	count(ca_dropped_by) > 0
} else := ""

non_empty(value) if {
	is_string(value)
	trim_space(value) != ""
}

deny contains msg if {
	injected
	https_vault
	not non_empty(object.get(annotations, tls_secret_key, ""))
	msg := sprintf("vault/ca-cert: %s: the Vault Agent is injected but the pod template has no %s (a Secret with Vault's CA, ca.crt), so the agent cannot verify Vault's certificate%s", [w.ref(input), tls_secret_key, hint])
}

deny contains msg if {
	injected
	https_vault
	path := object.get(annotations, ca_cert_key, "")
	not startswith(path, "/vault/tls/")
	msg := sprintf("vault/ca-cert: %s: the Vault Agent is injected but %s is %s, expected a file under /vault/tls/ (where the injector mounts %s)%s", [w.ref(input), ca_cert_key, json.marshal(path), tls_secret_key, hint])
}

exempt if object.get(annotations, "mlops.platform/reads-secrets", "") == "false"

exempt if object.get(w.pod_labels(input), "mlops.platform/reads-secrets", "") == "false"

env_value(c, name) := value if {
	some e in object.get(c, "env", [])
	e.name == name
	value := object.get(e, "value", "")
}

vault_client(c) if startswith(env_value(c, "VAULT_ADDR"), "https://")

vault_client(c) if {
	not env_value(c, "VAULT_ADDR")
	env_value(c, "MLOPS_ENV")
}

# Volumes of the pod that come from a Secret: name -> secret name.
secret_volumes[v.name] := v.secret.secretName if {
	some v in object.get(w.pod_spec(input), "volumes", [])
	v.secret.secretName
}

secret_volumes[v.name] := source.secret.name if {
	some v in object.get(w.pod_spec(input), "volumes", [])
	some source in object.get(object.get(v, "projected", {}), "sources", [])
	source.secret.name
}

# The Secret a container's file at `path` comes from, when a Secret volume is mounted over it.
secret_behind(c, path) := secret_volumes[m.name] if {
	some m in object.get(c, "volumeMounts", [])
	startswith(path, concat("", [trim_suffix(m.mountPath, "/"), "/"]))
}

deny contains msg if {
	not exempt
	some entry in w.containers(input)
	vault_client(entry.container)
	not env_value(entry.container, "VAULT_CACERT")
	msg := sprintf("vault/ca-env: %s %s: can reach Vault (VAULT_ADDR or MLOPS_ENV) but has no VAULT_CACERT, so hvac cannot verify Vault's certificate%s", [w.ref(input), entry.label, hint])
}

deny contains msg if {
	not exempt
	some entry in w.containers(input)
	vault_client(entry.container)
	path := env_value(entry.container, "VAULT_CACERT")
	not secret_behind(entry.container, path)
	msg := sprintf("vault/ca-env: %s %s: VAULT_CACERT is %s but no Secret volume is mounted over it", [w.ref(input), entry.label, json.marshal(path)])
}

deny contains msg if {
	injected
	https_vault
	some entry in w.containers(input)
	path := env_value(entry.container, "VAULT_CACERT")
	agent_path := object.get(annotations, ca_cert_key, "")
	agent_secret := object.get(annotations, tls_secret_key, "")
	some secret in {s | s := secret_behind(entry.container, path)}
	[path, secret] != [agent_path, agent_secret]
	msg := sprintf("vault/ca-same: %s %s: reads Vault's CA from %s in Secret %s but the agent from %s in Secret %s; both come from vault.caSecret and vault.caCertPath", [w.ref(input), entry.label, path, secret, agent_path, agent_secret])
}

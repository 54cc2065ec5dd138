# Secrets never sit in a manifest, and a workload that reads secrets gets them from the Vault
# Agent injector. data.inventory.configmaps holds the ConfigMaps rendered alongside the input
# ({name: data}), so a reference made through a mounted ConfigMap is seen too.
package kubernetes.secrets

import data.lib.workloads as w
import rego.v1

secret_name := `(?i)(password|secret|token|key|credential)`

# References are allowed as literal values: they name where a secret lives, not the secret.
reference_prefixes := ["vault://", "env://", "file:///vault/secrets/", "/vault/secrets/"]

is_reference(value) if {
	some prefix in reference_prefixes
	startswith(value, prefix)
}

deny contains msg if {
	some entry in w.containers(input)
	some env in object.get(entry.container, "env", [])
	regex.match(secret_name, env.name)
	"value" in object.keys(env)
	not is_reference(sprintf("%v", [env.value]))
	msg := sprintf("secrets/literal-env: %s %s: env %s holds a literal value; use valueFrom or a vault:// / file:///vault/secrets/ reference", [w.ref(input), entry.label, env.name])
}

# Workloads that declare it explicitly (the label or annotation below), or ask the injector for
# a secret file, or point at one under /vault/secrets/.
reads_secrets_key := "mlops.platform/reads-secrets"

vault_marker := "/vault/secrets/"

reads_secrets(obj) if object.get(w.pod_labels(obj), reads_secrets_key, "") == "true"

reads_secrets(obj) if object.get(w.pod_annotations(obj), reads_secrets_key, "") == "true"

reads_secrets(obj) if {
	some key, _ in w.pod_annotations(obj)
	startswith(key, "vault.hashicorp.com/agent-inject-secret-")
}

reads_secrets(obj) if {
	some key, _ in w.pod_annotations(obj)
	startswith(key, "vault.hashicorp.com/agent-inject-template-")
}

reads_secrets(obj) if {
	some entry in w.containers(obj)
	some text in container_strings(entry.container)
	contains(text, vault_marker)
}

reads_secrets(obj) if {
	some name in configmaps_used(obj)
	some _, value in object.get(object.get(data, ["inventory", "configmaps"], {}), name, {})
	contains(sprintf("%v", [value]), vault_marker)
}

container_strings(c) := array.concat(
	array.concat(object.get(c, "command", []), object.get(c, "args", [])),
	[sprintf("%v", [env.value]) | some env in object.get(c, "env", []); "value" in object.keys(env)],
)

configmaps_used(obj) := {name |
	some entry in w.containers(obj)
	some source in object.get(entry.container, "envFrom", [])
	name := source.configMapRef.name
} | {name |
	some entry in w.containers(obj)
	some env in object.get(entry.container, "env", [])
	name := env.valueFrom.configMapKeyRef.name
} | {name |
	some volume in object.get(w.pod_spec(obj), "volumes", [])
	name := volume.configMap.name
} | {name |
	some volume in object.get(w.pod_spec(obj), "volumes", [])
	some source in object.get(object.get(volume, "projected", {}), "sources", [])
	name := source.configMap.name
}

deny contains msg if {
	reads_secrets(input)
	object.get(w.pod_annotations(input), "vault.hashicorp.com/agent-inject", "") != "true"
	msg := sprintf("secrets/vault-annotations: %s: reads secrets but the pod template lacks vault.hashicorp.com/agent-inject: \"true\"", [w.ref(input)])
}

deny contains msg if {
	reads_secrets(input)
	role := object.get(w.pod_annotations(input), "vault.hashicorp.com/role", "")
	not valid_role(role)
	msg := sprintf("secrets/vault-annotations: %s: reads secrets but the pod template lacks a vault.hashicorp.com/role", [w.ref(input)])
}

valid_role(role) if {
	is_string(role)
	trim_space(role) != ""
}

# Staging and prod run only pods that NetworkPolicies isolate: every workload is selected, for
# both ingress and egress, by a NetworkPolicy rendered for its environment and namespace (the
# default deny), and at least one of them allows something (DNS at the very least). Policies are
# matched per environment here, unlike checkov's label-based check, which is satisfied by a
# policy rendered for any environment.
#
# data.inventory (set by the policies check, infrastructure/validation/checks/policies.py, for
# each chart x environment):
#   environment      the environment the release was rendered for ("" for plain manifests)
#   networkpolicies  every NetworkPolicy rendered for that environment, all charts
#   values           [{key, value, file}]: each values leaf and the values file that set it
package kubernetes.network

import data.lib.workloads as w
import rego.v1

enforced_environments := {"staging", "prod"}

environment := object.get(data, ["inventory", "environment"], "")

policies := object.get(data, ["inventory", "networkpolicies"], [])

namespace_of(obj) := object.get(object.get(obj, "metadata", {}), "namespace", "")

expression_holds(e, labels) if {
	e.operator == "In"
	labels[e.key] in e.values
}

expression_holds(e, labels) if {
	e.operator == "NotIn"
	not labels[e.key] in as_array(object.get(e, "values", []))
}

expression_holds(e, labels) if {
	e.operator == "Exists"
	e.key in object.keys(labels)
}

expression_holds(e, labels) if {
	e.operator == "DoesNotExist"
	not e.key in object.keys(labels)
}

# Rendered YAML leaves empty keys null ("matchLabels:"): read them as empty.
as_object(x) := x if is_object(x) else := {}

as_array(x) := x if is_array(x) else := []

selects(policy, obj) if {
	namespace_of(policy) == namespace_of(obj)
	selector := as_object(object.get(policy, ["spec", "podSelector"], {}))
	labels := as_object(w.pod_labels(obj))
	every key, value in as_object(object.get(selector, "matchLabels", {})) {
		labels[key] == value
	}
	every e in as_array(object.get(selector, "matchExpressions", [])) {
		expression_holds(e, labels)
	}
}

# policyTypes left out means Ingress, plus Egress when the policy has egress rules.
isolates(policy, direction) if direction in as_array(object.get(policy, ["spec", "policyTypes"], []))

isolates(policy, "Ingress") if object.get(policy, ["spec", "policyTypes"], null) == null

isolates(policy, "Egress") if {
	object.get(policy, ["spec", "policyTypes"], null) == null
	count(rules(policy, "egress")) > 0
}

rules(policy, field) := as_array(object.get(policy, ["spec", field], []))

allows(policy) if count(rules(policy, "ingress")) > 0

allows(policy) if count(rules(policy, "egress")) > 0

isolated(obj, direction) if {
	some policy in policies
	selects(policy, obj)
	isolates(policy, direction)
}

unisolated(obj) := [direction |
	some direction in ["Ingress", "Egress"]
	not isolated(obj, direction)
]

# "(infrastructure/helm/x/values-prod.yaml sets networkPolicy.enabled: false)"
disabled_by := {sprintf("%s sets %s: false", [v.file, v.key]) |
	some v in object.get(data, ["inventory", "values"], [])
	regex.match(`(?i)(^|\.)networkpolic(y|ies)\.enabled$`, v.key)
	v.value == false
}

hint := sprintf(" (%s)", [concat("; ", sort(disabled_by))]) if {
	count(disabled_by) > 0
} else := ""

deny contains msg if {
	environment in enforced_environments
	count(w.containers(input)) > 0
	missing := unisolated(input)
	count(missing) > 0
	msg := sprintf("network/default-deny: %s in %s: no NetworkPolicy rendered for %s selects its pods for %s%s", [w.ref(input), environment, environment, concat(" and ", missing), hint])
}

deny contains msg if {
	environment in enforced_environments
	count(w.containers(input)) > 0
	count(unisolated(input)) == 0
	not any_allow(input)
	msg := sprintf("network/allow-rules: %s in %s: the NetworkPolicies selecting its pods deny everything; it needs an allow rule (DNS at least)", [w.ref(input), environment])
}

any_allow(obj) if {
	some policy in policies
	selects(policy, obj)
	allows(policy)
}

# Pod Security Standards, "restricted" profile (which includes "baseline"):
# https://kubernetes.io/docs/concepts/security/pod-security-standards/
package kubernetes.pod_security

import data.lib.workloads as w
import rego.v1

deny contains msg if {
	some entry in w.containers(input)
	w.effective_security(input, entry.container, "runAsNonRoot") != true
	msg := sprintf("pod-security/run-as-non-root: %s %s: securityContext.runAsNonRoot must be true (container or pod)", [w.ref(input), entry.label])
}

deny contains msg if {
	some entry in w.containers(input)
	w.effective_security(input, entry.container, "runAsUser") == 0
	msg := sprintf("pod-security/run-as-non-root: %s %s: runAsUser must not be 0", [w.ref(input), entry.label])
}

deny contains msg if {
	some entry in w.containers(input)
	object.get(entry.container, ["securityContext", "allowPrivilegeEscalation"], null) != false
	msg := sprintf("pod-security/allow-privilege-escalation: %s %s: securityContext.allowPrivilegeEscalation must be false", [w.ref(input), entry.label])
}

deny contains msg if {
	some entry in w.containers(input)
	not "ALL" in object.get(entry.container, ["securityContext", "capabilities", "drop"], [])
	msg := sprintf("pod-security/capabilities: %s %s: securityContext.capabilities.drop must include ALL", [w.ref(input), entry.label])
}

deny contains msg if {
	some entry in w.containers(input)
	some added in object.get(entry.container, ["securityContext", "capabilities", "add"], [])
	added != "NET_BIND_SERVICE"
	msg := sprintf("pod-security/capabilities: %s %s: capability %s may not be added (only NET_BIND_SERVICE)", [w.ref(input), entry.label, added])
}

seccomp_types := {"RuntimeDefault", "Localhost"}

seccomp_confined(obj, c) if {
	profile := w.effective_security(obj, c, "seccompProfile")
	is_object(profile)
	profile.type in seccomp_types
}

deny contains msg if {
	some entry in w.containers(input)
	not seccomp_confined(input, entry.container)
	msg := sprintf("pod-security/seccomp: %s %s: seccompProfile.type must be RuntimeDefault or Localhost (container or pod)", [w.ref(input), entry.label])
}

deny contains msg if {
	some entry in w.containers(input)
	object.get(entry.container, ["securityContext", "privileged"], false) == true
	msg := sprintf("pod-security/privileged: %s %s: securityContext.privileged must not be true", [w.ref(input), entry.label])
}

deny contains msg if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	object.get(w.pod_spec(input), field, false) == true
	msg := sprintf("pod-security/host-namespaces: %s: %s must not be true", [w.ref(input), field])
}

deny contains msg if {
	some volume in object.get(w.pod_spec(input), "volumes", [])
	"hostPath" in object.keys(volume)
	msg := sprintf("pod-security/host-path: %s: volume %s mounts a hostPath", [w.ref(input), object.get(volume, "name", "<unnamed>")])
}

deny contains msg if {
	some entry in w.containers(input)
	some port in object.get(entry.container, "ports", [])
	object.get(port, "hostPort", 0) != 0
	msg := sprintf("pod-security/host-ports: %s %s: hostPort %v must not be used", [w.ref(input), entry.label, port.hostPort])
}

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

# The rest of "restricted", so that namespaces can enforce it with no workload rejected at
# admission: only these volume types...
restricted_volume_types := {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}

deny contains msg if {
	some volume in object.get(w.pod_spec(input), "volumes", [])
	some field, _ in volume
	field != "name"
	not field in restricted_volume_types
	msg := sprintf("pod-security/volume-types: %s: volume %s is a %s volume; restricted allows only %s", [w.ref(input), object.get(volume, "name", "<unnamed>"), field, concat(", ", sort(restricted_volume_types))])
}

# ...the default /proc mask...
deny contains msg if {
	some entry in w.containers(input)
	mount := object.get(entry.container, ["securityContext", "procMount"], "Default")
	mount != "Default"
	msg := sprintf("pod-security/proc-mount: %s %s: securityContext.procMount must be Default, not %s", [w.ref(input), entry.label, mount])
}

# ...only namespaced, safe sysctls...
safe_sysctls := {
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
}

deny contains msg if {
	some sysctl in object.get(w.pod_spec(input), ["securityContext", "sysctls"], [])
	not sysctl.name in safe_sysctls
	msg := sprintf("pod-security/sysctls: %s: sysctl %s is not in the safe set", [w.ref(input), sysctl.name])
}

# ...no custom SELinux user or role, and only the container types...
selinux_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

selinux_options(obj) := array.concat(
	[{"where": "pod", "options": o} | o := object.get(w.pod_spec(obj), ["securityContext", "seLinuxOptions"], null); o != null],
	[{"where": entry.label, "options": o} | some entry in w.containers(obj); o := object.get(entry.container, ["securityContext", "seLinuxOptions"], null); o != null],
)

deny contains msg if {
	some entry in selinux_options(input)
	some field in ["user", "role"]
	object.get(entry.options, field, "") != ""
	msg := sprintf("pod-security/selinux: %s %s: seLinuxOptions.%s must not be set", [w.ref(input), entry.where, field])
}

deny contains msg if {
	some entry in selinux_options(input)
	not object.get(entry.options, "type", "") in selinux_types
	msg := sprintf("pod-security/selinux: %s %s: seLinuxOptions.type %s is not a container type", [w.ref(input), entry.where, entry.options.type])
}

# ...AppArmor confined or left to the runtime's default...
apparmor_types := {"RuntimeDefault", "Localhost"}

deny contains msg if {
	some entry in w.containers(input)
	profile := object.get(entry.container, ["securityContext", "appArmorProfile"], null)
	profile != null
	not profile.type in apparmor_types
	msg := sprintf("pod-security/apparmor: %s %s: appArmorProfile.type must be RuntimeDefault or Localhost", [w.ref(input), entry.label])
}

deny contains msg if {
	profile := object.get(w.pod_spec(input), ["securityContext", "appArmorProfile"], null)
	profile != null
	not profile.type in apparmor_types
	msg := sprintf("pod-security/apparmor: %s: pod appArmorProfile.type must be RuntimeDefault or Localhost", [w.ref(input)])
}

deny contains msg if {
	some key, value in w.pod_annotations(input)
	startswith(key, "container.apparmor.security.beta.kubernetes.io/")
	value != "runtime/default"
	not startswith(value, "localhost/")
	msg := sprintf("pod-security/apparmor: %s: annotation %s must be runtime/default or localhost/<profile>", [w.ref(input), key])
}

# ...and no Windows host processes.
deny contains msg if {
	some entry in w.containers(input)
	w.effective_security(input, entry.container, "windowsOptions").hostProcess == true
	msg := sprintf("pod-security/host-process: %s %s: windowsOptions.hostProcess must not be true", [w.ref(input), entry.label])
}

# Namespaces kept as manifests enforce the same level the Argo CD-created ones do.
deny contains msg if {
	input.kind == "Namespace"
	level := object.get(input, ["metadata", "labels", "pod-security.kubernetes.io/enforce"], "<unset>")
	level != "restricted"
	msg := sprintf("pod-security/namespace-enforce: Namespace/%s: pod-security.kubernetes.io/enforce is %s; it must be restricted", [object.get(input.metadata, "name", "<unnamed>"), level])
}

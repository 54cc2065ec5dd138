# Shared helpers: where a workload keeps its pod spec, pod metadata and containers, so every
# rule sees Deployments, StatefulSets, Jobs, CronJobs... the same way a bare Pod is seen.
package lib.workloads

import rego.v1

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

pod_template(obj) := obj if obj.kind == "Pod"

pod_template(obj) := obj.spec.template if obj.kind in template_kinds

pod_template(obj) := obj.spec.jobTemplate.spec.template if obj.kind == "CronJob"

pod_spec(obj) := object.get(pod_template(obj), "spec", {})

pod_metadata(obj) := object.get(pod_template(obj), "metadata", {})

pod_labels(obj) := object.get(pod_metadata(obj), "labels", {})

pod_annotations(obj) := object.get(pod_metadata(obj), "annotations", {})

# "Deployment/serving": the object a message is about.
ref(obj) := sprintf("%s/%s", [obj.kind, object.get(object.get(obj, "metadata", {}), "name", "<unnamed>")])

container_fields := {
	"initContainers": "initContainer",
	"containers": "container",
	"ephemeralContainers": "ephemeralContainer",
}

# Every container of the pod, init and ephemeral ones included, as
# {"container": <spec>, "label": "container model"}.
containers(obj) := [entry |
	spec := pod_spec(obj)
	some field, kind in container_fields
	some c in object.get(spec, field, [])
	entry := {"container": c, "label": sprintf("%s %s", [kind, object.get(c, "name", "<unnamed>")])}
]

# A container's securityContext setting, falling back to the pod's (container wins, as in Kubernetes).
effective_security(obj, c, key) := object.get(
	object.get(c, "securityContext", {}),
	key,
	object.get(object.get(pod_spec(obj), "securityContext", {}), key, null),
)

# Every container, init containers included, declares what it needs and what it may use:
# requests let the scheduler place it, limits keep one workload from starving its neighbours.
package kubernetes.resources

import data.lib.workloads as w
import rego.v1

required := [
	["requests", "cpu"],
	["requests", "memory"],
	["limits", "cpu"],
	["limits", "memory"],
]

deny contains msg if {
	some entry in w.containers(input)
	resources := object.get(entry.container, "resources", {})
	missing := [sprintf("%s.%s", path) |
		some path in required
		object.get(resources, path, null) == null
	]
	count(missing) > 0
	msg := sprintf("resources/requests-limits: %s %s: resources %s must be set", [w.ref(input), entry.label, concat(", ", missing)])
}

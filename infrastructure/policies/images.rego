# Images are pinned: a tag other than "latest", or a digest. An untagged or ":latest" image
# changes under a running release and breaks rollback to a known state.
package kubernetes.images

import data.lib.workloads as w
import rego.v1

# The tag of "registry:5000/team/app:1.2", or "" when there is none (a ":" before the last
# "/" belongs to the registry's port, not to a tag).
image_tag(image) := tag if {
	name := regex.replace(image, `@.*$`, "")
	parts := split(name, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := substring(last, indexof(last, ":") + 1, -1)
} else := ""

pinned_by_digest(image) if contains(image, "@sha256:")

deny contains msg if {
	some entry in w.containers(input)
	not is_string(object.get(entry.container, "image", null))
	msg := sprintf("images/pinned: %s %s: no image set", [w.ref(input), entry.label])
}

deny contains msg if {
	some entry in w.containers(input)
	image := entry.container.image
	is_string(image)
	not pinned_by_digest(image)
	image_tag(image) == ""
	msg := sprintf("images/pinned: %s %s: image %s has no tag (pin a version or a digest)", [w.ref(input), entry.label, image])
}

deny contains msg if {
	some entry in w.containers(input)
	image := entry.container.image
	is_string(image)
	not pinned_by_digest(image)
	image_tag(image) == "latest"
	msg := sprintf("images/pinned: %s %s: image %s uses the latest tag (pin a version or a digest)", [w.ref(input), entry.label, image])
}

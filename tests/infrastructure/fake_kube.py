"""A small fake of the Kubernetes API server, for the cluster-side operations' tests.

No API server can run on these machines (no Kubernetes), so the tests point the real
``kubernetes`` client at this one: a threaded ``http.server`` on 127.0.0.1 and a free port that
answers the requests :mod:`infrastructure.cluster` sends with the real API's JSON shapes
(``DeploymentList``, ``Scale``, ``Status`` errors, Argo CD's ``Application``), taken from what a
real API server answers, and keeps state: a patch changes what later reads return.

The controllers are simulated: a change to a Deployment's or StatefulSet's spec (a scale, a
restart annotation) bumps ``metadata.generation``, and the object's status catches up (observed
generation, updated / ready / available replicas, revisions, the pods) after ``settle_after``
reads of it; an object named in ``stuck`` never catches up, as a Deployment whose new pods never
become ready. A resource (plural) in ``forbidden`` answers 403, as RBAC does. Only what the
platform's code uses is served; anything else is a 404 ``Status``.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fake_http import serve_json

KINDS = {
    ("apps", "deployments"): "Deployment",
    ("apps", "statefulsets"): "StatefulSet",
    ("batch", "cronjobs"): "CronJob",
    ("argoproj.io", "applications"): "Application",
    ("argoproj.io", "applicationsets"): "ApplicationSet",
    ("", "pods"): "Pod",
}
API_VERSIONS = {"apps": "apps/v1", "batch": "batch/v1", "argoproj.io": "argoproj.io/v1alpha1", "": "v1"}
_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>scale|status))?$"
)


@dataclass
class Request:
    method: str
    path: str
    content_type: str
    body: Any


@dataclass
class FakeKube:
    """The fake's state: objects by (plural, namespace, name); the requests it was sent."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    settle_after: int = 2
    stuck: set[str] = field(default_factory=set)
    forbidden: set[str] = field(default_factory=set)  # plurals the caller's RBAC does not allow
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _pending: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- set-up -----------------------------------------------------------------------------------

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` (a manifest, e.g. from a rendered chart) as a settled, running object."""
        obj = copy.deepcopy(obj)
        kind = obj["kind"]
        plural = {v: k[1] for k, v in KINDS.items()}[kind]
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("generation", 1)
        meta.setdefault("uid", f"uid-{meta['name']}")
        if kind in ("Deployment", "StatefulSet"):
            obj["spec"].setdefault("replicas", 1)
            _settle(obj, revision=1)
        self.objects[(plural, meta["namespace"], meta["name"])] = obj
        return obj

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects[(plural, namespace, name)]

    def patches(self, path_part: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == "PATCH" and path_part in r.path]

    def kubeconfig(self, context: str = "fake") -> dict[str, Any]:
        """A kubeconfig naming this server (plain http, no credentials)."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }

    # --- the simulated controllers -----------------------------------------------------------------

    def _read(self, key: tuple[str, str, str]) -> dict[str, Any]:
        """The object as a read sees it: a pending change settles after ``settle_after`` reads."""
        obj = self.objects[key]
        if key in self._pending and obj["metadata"]["name"] not in self.stuck:
            self._pending[key] -= 1
            if self._pending[key] <= 0:
                del self._pending[key]
                _settle(obj, revision=obj["metadata"]["generation"])
        return obj

    def _changed(self, key: tuple[str, str, str], before: dict[str, Any]) -> None:
        obj = self.objects[key]
        if obj.get("spec") != before.get("spec"):
            obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            if obj["kind"] in ("Deployment", "StatefulSet"):
                self._pending[key] = self.settle_after

    def _pods(self, namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        """The pods of the workloads whose template labels match: as many as their status says."""
        pods = []
        for (plural, ns, name), obj in list(self.objects.items()):
            if ns != namespace or plural not in ("deployments", "statefulsets"):
                continue
            labels = obj["spec"]["template"]["metadata"].get("labels", {})
            if all(labels.get(k) == v for k, v in selector.items()):
                self._read((plural, ns, name))
                count = obj.get("status", {}).get("replicas", 0)
                for i in range(count):
                    meta = {"name": f"{name}-{i}", "namespace": ns, "labels": labels}
                    pods.append({"metadata": meta, "status": {"phase": "Running"}})
        return pods

    # --- the HTTP side ------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, content_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(Request(method, raw_path, content_type, body))
            url = urlparse(raw_path)
            match = _PATH.match(url.path)
            if not match:
                return _status(404, "NotFound", f"the server could not find the requested resource ({url.path})")
            group, plural, ns = match["group"] or "", match["plural"], match["ns"]
            name, sub = match["name"], match["sub"]
            kind = KINDS.get((group, plural))
            if kind is None:
                return _status(404, "NotFound", f"the server could not find the requested resource ({plural})")
            if plural in self.forbidden:
                return _status(
                    403,
                    "Forbidden",
                    f'{plural}.{group or "core"} is forbidden: User "ci" cannot {method.lower()} resource '
                    f'"{plural}" in API group "{group}" in the namespace "{ns}"',
                )
            selector = _selector(parse_qs(url.query).get("labelSelector", [""])[0])
            if name is None:
                if method != "GET":
                    return _status(405, "MethodNotAllowed", f"{method} on a list")
                if plural == "pods":
                    items = self._pods(ns, selector)
                else:
                    items = [
                        copy.deepcopy(self._read(key))
                        for key in sorted(self.objects)
                        if key[0] == plural
                        and key[1] == ns
                        and _matches(self.objects[key]["metadata"].get("labels") or {}, selector)
                    ]
                for item in items:
                    item.pop("kind", None)  # a list's items carry no kind
                    item.pop("apiVersion", None)
                return 200, {
                    "kind": f"{kind}List",
                    "apiVersion": API_VERSIONS[group],
                    "metadata": {"resourceVersion": "1"},
                    "items": items,
                }
            key = (plural, ns, name)
            if key not in self.objects:
                return _status(404, "NotFound", f'{plural}.{group or "core"} "{name}" not found')
            if method == "GET":
                obj = self._read(key)
                return 200, _scale(obj) if sub == "scale" else copy.deepcopy(obj)
            if method != "PATCH":
                return _status(405, "MethodNotAllowed", f"{method} {plural}")
            expected = (
                "application/merge-patch+json" if group == "argoproj.io" else "application/strategic-merge-patch+json"
            )
            if content_type not in (expected, "application/merge-patch+json"):
                return _status(
                    415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
                )
            if not isinstance(body, dict):
                return _status(400, "BadRequest", "a patch body must be a JSON object")
            obj = self.objects[key]
            before = copy.deepcopy(obj)
            if sub == "scale":
                replicas = (body.get("spec") or {}).get("replicas")
                if not isinstance(replicas, int) or replicas < 0:
                    return _status(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas')
                obj["spec"]["replicas"] = replicas
            else:
                _merge(obj, body)
            self._changed(key, before)
            return 200, _scale(obj) if sub == "scale" else copy.deepcopy(obj)


def _settle(obj: dict[str, Any], revision: int) -> None:
    """What the controllers do once the change has gone through: every replica updated and ready."""
    replicas = obj["spec"].get("replicas", 1)
    status = {
        "observedGeneration": obj["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    if obj["kind"] == "StatefulSet":
        status |= {
            "currentReplicas": replicas,
            "currentRevision": f"rev-{revision}",
            "updateRevision": f"rev-{revision}",
        }
    else:
        status["conditions"] = [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ]
    obj["status"] = status


def _scale(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0)},
    }


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge patch (RFC 7386); the strategic merge of maps is the same (no lists patched here)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, dict):
            target[key] = {}
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _selector(text: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    return {k.strip(): v.strip() for k, v in pairs}


def _matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@contextmanager
def fake_kube_server(fake: FakeKube | None = None) -> Iterator[FakeKube]:
    """Serve ``fake`` on 127.0.0.1 and a free port until the block ends."""
    kube = fake or FakeKube()

    def answer(method: str, path: str, headers: Mapping[str, str], body: Any) -> tuple[int, Any]:
        return kube.handle(method, path, headers.get("Content-Type", ""), body)

    with serve_json(answer) as url:
        kube.url = url
        yield kube


def cluster_for(fake: FakeKube) -> Any:
    """An :class:`infrastructure.cluster.Cluster` whose client talks to ``fake``."""
    from kubernetes import client

    from infrastructure.cluster import Cluster

    configuration = client.Configuration(host=fake.url)
    return Cluster(client.ApiClient(configuration))

"""One connection to a Kubernetes API server, its answers as the API's own JSON.

:func:`connect` loads the configuration the way ``kubectl`` does (the kubeconfig named by
``KUBECONFIG`` or ``~/.kube/config``, optionally one of its contexts; inside a pod, the service
account) and returns a :class:`Cluster`. Every call goes through :meth:`Cluster._call`, which
maps the client's exceptions to the platform's error tree with one line naming the object: an
answer with an error status becomes :class:`~mlops.errors.ClusterError`, no answer at all
:class:`~mlops.errors.ClusterUnavailableError`.

The answers are kept as the API's JSON (``dict``), not the client's generated models: field
names stay those of ``kubectl get -o json`` and of the Kubernetes documentation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops.errors import ClusterError, ClusterUnavailableError

# (connect, read) seconds per request: an API server that does not answer fails in one line
# instead of hanging the command.
REQUEST_TIMEOUT = (5.0, 30.0)
ARGOCD_NAMESPACE = "argocd"
ARGO_GROUP, ARGO_VERSION = "argoproj.io", "v1alpha1"
# Every workload of the platform's charts carries it (platform-lib's platform.labels).
PLATFORM_SELECTOR = "app.kubernetes.io/part-of=mlops-platform"
# Where the charts run: Argo CD's Applications put environment ENV into this namespace.
NAMESPACE_PATTERN = "mlops-{env}"

# The workload kinds this package reads and changes: kind -> (API path segment, client method stem).
SCALABLE_KINDS = ("Deployment", "StatefulSet")
_METHODS = {"Deployment": "deployment", "StatefulSet": "stateful_set"}


def namespace_for(env: str) -> str:
    return NAMESPACE_PATTERN.format(env=env)


@dataclass(frozen=True)
class ObjectRef:
    """A namespaced object: what an error message and a kubectl command name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} in {self.namespace}"

    @property
    def kubectl(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


def load_configuration(context: str | None = None) -> Any:
    """A ``kubernetes.client.Configuration``: the kubeconfig (its ``context``, else its current
    one), else, with no context asked for, the in-cluster service account."""
    from kubernetes import client, config

    # Read now, not at the client's import (its default is fixed then): KUBECONFIG may list
    # several files separated by ":", as for kubectl.
    kubeconfig = os.environ.get("KUBECONFIG") or "~/.kube/config"
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        return configuration
    except (config.ConfigException, OSError, ValueError, TypeError) as exc:
        kube_problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if context is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
            return configuration
        except config.ConfigException:
            pass
    where = f"context {context!r} of " if context else ""
    raise ClusterUnavailableError(
        f"no Kubernetes configuration: {where}the kubeconfig {kubeconfig} "
        f"cannot be used ({kube_problem})" + ("" if context else " and this is not a pod with a service account")
    )


def connect(context: str | None = None) -> Cluster:
    """The cluster the kubeconfig (or the pod's service account) points at."""
    from kubernetes import client

    return Cluster(client.ApiClient(load_configuration(context)))


class Cluster:
    """The few API calls the platform's operations need, on one ``kubernetes.client.ApiClient``."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.host: str = api_client.configuration.host
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)``'s JSON; ``what`` names the request in an error."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            response = method(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            return json.loads(response.data or b"{}")
        except ApiException as exc:
            raise ClusterError(f"{what}: {exc.status} {exc.reason}: {_api_message(exc.body)}") from None
        except HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ClusterUnavailableError(
                f"{what}: the Kubernetes API at {self.host} does not answer: {str(reason)[:200]}"
            ) from None

    # --- workloads (Deployments, StatefulSets) -------------------------------------------------

    def list_workloads(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        method = getattr(self.apps, f"list_namespaced_{_METHODS[kind]}")
        answer = self._call(f"list {kind.lower()}s in {namespace}", method, namespace, label_selector=selector or None)
        return [_with_kind(item, kind) for item in answer.get("items", [])]

    def read_workload(self, ref: ObjectRef) -> dict[str, Any]:
        method = getattr(self.apps, f"read_namespaced_{_METHODS[ref.kind]}")
        return _with_kind(self._call(f"read {ref}", method, ref.name, ref.namespace), ref.kind)

    def patch_workload(self, ref: ObjectRef, patch: dict[str, Any]) -> dict[str, Any]:
        """A strategic merge patch, as ``kubectl patch`` sends by default (the client sends a
        ``dict`` body as one)."""
        method = getattr(self.apps, f"patch_namespaced_{_METHODS[ref.kind]}")
        return self._call(f"patch {ref}", method, ref.name, ref.namespace, patch)

    def scale(self, ref: ObjectRef, replicas: int) -> None:
        """Through the ``/scale`` subresource, as ``kubectl scale`` does."""
        method = getattr(self.apps, f"patch_namespaced_{_METHODS[ref.kind]}_scale")
        self._call(
            f"scale {ref} to {replicas}",
            method,
            ref.name,
            ref.namespace,
            {"spec": {"replicas": replicas}},
        )

    def count_pods(self, namespace: str, match_labels: dict[str, str]) -> int:
        """Pods (terminating ones included) whose labels match: a scale to 0 is over when none is left."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
        answer = self._call(
            f"list pods {selector} in {namespace}", self.core.list_namespaced_pod, namespace, label_selector=selector
        )
        return len(answer.get("items", []))

    # --- CronJobs ------------------------------------------------------------------------------

    def list_cronjobs(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        answer = self._call(
            f"list cronjobs in {namespace}",
            self.batch.list_namespaced_cron_job,
            namespace,
            label_selector=selector or None,
        )
        return [_with_kind(item, "CronJob") for item in answer.get("items", [])]

    def suspend_cronjob(self, ref: ObjectRef, suspend: bool) -> None:
        self._call(
            f"{'suspend' if suspend else 'resume'} {ref}",
            self.batch.patch_namespaced_cron_job,
            ref.name,
            ref.namespace,
            {"spec": {"suspend": suspend}},
        )

    # --- Argo CD -------------------------------------------------------------------------------

    def list_applications(self, selector: str = "", namespace: str = ARGOCD_NAMESPACE) -> list[dict[str, Any]]:
        answer = self._call(
            f"list Argo CD applications in {namespace}",
            self.custom.list_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            namespace,
            "applications",
            label_selector=selector or None,
        )
        return list(answer.get("items", []))

    def read_argo_object(self, plural: str, name: str, namespace: str = ARGOCD_NAMESPACE) -> dict[str, Any]:
        return dict(
            self._call(
                f"read Argo CD {plural[:-1]} {name} in {namespace}",
                self.custom.get_namespaced_custom_object,
                ARGO_GROUP,
                ARGO_VERSION,
                namespace,
                plural,
                name,
            )
        )

    def patch_application(self, name: str, patch: dict[str, Any], namespace: str = ARGOCD_NAMESPACE) -> None:
        """A JSON merge patch, the client's content type for custom resources (they take no
        strategic merge); ``None`` deletes a key."""
        self._call(
            f"patch Argo CD application {name} in {namespace}",
            self.custom.patch_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            namespace,
            "applications",
            name,
            patch,
        )


def _with_kind(item: dict[str, Any], kind: str) -> dict[str, Any]:
    # A list's items carry no kind of their own (the list has it).
    item.setdefault("kind", kind)
    return item


def _api_message(body: Any) -> str:
    """The ``message`` of the API's Status answer, else the body's first line."""
    text = (body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")).strip()
    try:
        message = json.loads(text).get("message")
    except (ValueError, AttributeError):
        message = None
    if message:
        return str(message)[:300]
    return text.splitlines()[0][:300] if text else "no details"


__all__ = [
    "ARGOCD_NAMESPACE",
    "PLATFORM_SELECTOR",
    "SCALABLE_KINDS",
    "Cluster",
    "ObjectRef",
    "connect",
    "load_configuration",
    "namespace_for",
]

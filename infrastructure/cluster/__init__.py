"""Cluster-side operations on an environment's Kubernetes cluster, through the ``kubernetes`` client.

- :mod:`~infrastructure.cluster.status`: what runs (champion and shadow serving, the feature
  store, CronJobs: replicas ready, image tags, rollout state) and Argo CD's sync and health
  (``mlops cluster status``).
- :mod:`~infrastructure.cluster.rollout`: the workloads whose pods read a Vault secret, their
  rollout restart after a rotation (``mlops secrets rotate``), scaling, and waiting for both
  with ``kubectl rollout status``'s rules.
- :mod:`~infrastructure.cluster.drill`: the DR drill's cluster part (``mlops dr drill --env
  staging|prod``): scale down, scale back, wait until ready.

:func:`connect` reads the kubeconfig (or the pod's service account); every API error is a
:class:`~mlops.errors.ClusterError` naming the object, a missing configuration or silent API
server a :class:`~mlops.errors.ClusterUnavailableError`.
"""

from infrastructure.cluster.client import (
    ARGOCD_NAMESPACE,
    PLATFORM_SELECTOR,
    Cluster,
    ObjectRef,
    connect,
    load_configuration,
    namespace_for,
)
from infrastructure.cluster.drill import ClusterDeployment, WorkloadDrillReport, run_workload_drill
from infrastructure.cluster.rollout import (
    DEFAULT_TIMEOUT_S,
    RESTARTED_AT,
    RestartResult,
    SecretReaders,
    find_readers,
    kv_path,
    readers_of,
    restart,
    restart_readers,
    secret_paths,
    wait,
)
from infrastructure.cluster.status import Application, ClusterStatus, Workload, read_status, rollout_state

__all__ = [
    "ARGOCD_NAMESPACE",
    "DEFAULT_TIMEOUT_S",
    "PLATFORM_SELECTOR",
    "RESTARTED_AT",
    "Application",
    "Cluster",
    "ClusterDeployment",
    "ClusterStatus",
    "ObjectRef",
    "RestartResult",
    "SecretReaders",
    "Workload",
    "WorkloadDrillReport",
    "connect",
    "find_readers",
    "kv_path",
    "load_configuration",
    "namespace_for",
    "read_status",
    "readers_of",
    "restart",
    "restart_readers",
    "rollout_state",
    "run_workload_drill",
    "secret_paths",
    "wait",
]

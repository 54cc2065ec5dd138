"""``helm-render``: lint and render every chart x ``values-<env>.yaml`` with the Helm engine
(``helm_python``), after ``helm dependency build``; ``values.schema.json`` is checked first, each
failure naming the values file, the key and the reason; output in ``<out>/rendered``."""

from __future__ import annotations

from infrastructure.validation.context import Context
from infrastructure.validation.core import CheckResult


def check_helm_render(ctx: Context) -> CheckResult:
    """Every chart rendered for every environment (the shared render), its failures and counts."""
    result = CheckResult("helm-render")
    outcome = ctx.rendered()
    result.failures += outcome.failures
    result.notes += outcome.notes
    result.counts = {
        "charts": outcome.charts,
        "renders": len(outcome.renders),
        "failed_renders": len(outcome.unrendered),
        "documents": sum(len(r.manifests) for r in outcome.renders),
    }
    return result

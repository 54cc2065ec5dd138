"""model_governance room: model cards, SHAP explainability and the fairness gate.

- :mod:`model_governance.fairness` — ``assess_fairness`` (fairlearn) decided by ``FairnessGate``.
- :mod:`model_governance.explainability` — ``global_importance`` (SHAP) and its PNG bar chart.
- :mod:`model_governance.cards` — the ``ModelCard`` data model, Markdown and HTML renderings.
- :mod:`model_governance.govern` — ``govern`` / ``write_outputs``: fairness, importance and the
  rendered card in one call.
- :mod:`model_governance.step` — ``govern_step``: the pipeline step around ``govern`` (reads the
  run's artifacts, records the step).

Nothing is imported here: shap, fairlearn and matplotlib load only inside the functions that
use them, so importing a submodule stays cheap.
"""

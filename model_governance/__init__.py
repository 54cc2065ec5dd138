"""model_governance room."""

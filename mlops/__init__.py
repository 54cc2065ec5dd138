"""MLOps platform kernel."""

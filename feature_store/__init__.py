"""feature_store room."""

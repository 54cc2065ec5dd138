"""data_quality room."""

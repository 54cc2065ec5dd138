"""components room."""

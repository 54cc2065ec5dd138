"""Serving: the online app, shadow mirroring and comparison, and batch inference (``serving.batch``)."""

"""``make loadtest``: :mod:`~performance.load_testing.run` serves the champion and runs Locust
headless on ``locustfile.py``, in Locust's own process (never import the locustfile here:
its gevent patching must come before any ssl-using package)."""

__all__ = ["run"]

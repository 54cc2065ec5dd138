"""Performance: benchmarks (``make bench``), the Locust load test (``make loadtest``) and the
py-spy profiler (``make profile``).

Every tool is a module run as ``python -m performance.<folder>.<tool> --help``;
:mod:`performance.servers` starts, waits for and stops the local processes they need (the
test suite's server fixtures use it too). Importing the package imports none of them.
"""

__all__ = ["benchmarks", "load_testing", "profiling", "servers"]

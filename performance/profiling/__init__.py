"""``make profile``: :mod:`~performance.profiling.profile_serving` samples a live server under
open-loop load with py-spy."""

__all__ = ["profile_serving"]

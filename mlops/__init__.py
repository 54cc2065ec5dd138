"""MLOps platform kernel: CLI, typed config, errors, registry, state, secrets.

The kernel imports no room; heavy libraries are imported inside the functions that use them.
"""

__version__ = "0.1.0"

"""``python infrastructure/validation/validate.py``: the same as ``python -m infrastructure.validation``.

The checks live in the :mod:`infrastructure.validation` package; this file keeps the script's
path working.
"""

from __future__ import annotations

import sys

from infrastructure.validation.runner import main

if __name__ == "__main__":
    sys.exit(main())

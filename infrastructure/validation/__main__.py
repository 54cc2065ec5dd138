"""``python -m infrastructure.validation``: the command behind ``make validate-infra``."""

from __future__ import annotations

import sys

from infrastructure.validation.runner import main

sys.exit(main())

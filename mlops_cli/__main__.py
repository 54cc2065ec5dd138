"""``python -m mlops_cli``: the ``mlops`` command without its console script."""

import os

from mlops_cli.main import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")
main()

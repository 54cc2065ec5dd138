"""The platform kernel: contracts and plumbing only.

Typed config loading (``config``), the error tree (``errors``), the state folder and step
records (``state``), the secret resolver (``secrets``), and the types every room shares:
column roles (``roles``), the serving schema (``schema``), step contracts (``contracts``) and
content hashes (``hashing``), and the page and stylesheet every HTML report shares
(``report_html``). The kernel imports no room (``make lint`` checks it); heavy
libraries are imported inside the functions that use them.
"""

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "config",
    "contracts",
    "errors",
    "hashing",
    "report_html",
    "roles",
    "schema",
    "secrets",
    "state",
]

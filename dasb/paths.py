"""Where the built-in data folders (``tokenizers/`` cards, ``benchmarks/`` suites) are.

In a source checkout (and an editable install) they sit beside the ``dasb``
package; a wheel installs them under ``<prefix>/share/dasb/`` (see the
``data-files`` table in ``pyproject.toml``).
"""
from __future__ import annotations

import sys
import sysconfig
from pathlib import Path


def data_folder(name: str) -> Path:
    """The built-in folder ``name``: the checkout's, else the installed copy (which may be absent)."""
    checkout = Path(__file__).resolve().parents[1] / name
    if checkout.is_dir():
        return checkout
    for prefix in (sysconfig.get_path("data"), sys.prefix):
        installed = Path(prefix) / "share" / "dasb" / name
        if installed.is_dir():
            return installed
    return checkout

"""Where the files that are not Python are: the Jinja2 templates. A leaf: imports nothing of ours.

The checkout keeps them in its top-level `templates/` folder; a wheel carries a copy inside
the package as `service/templates/` (the build hook `scripts/build_hooks.py` puts it there), so
an installed server finds them from any working directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def templates_dir() -> Path:
    """`service/templates/` of an installed wheel, else the checkout's `templates/` (an editable
    install, or `python -m service` run in the checkout)."""
    packaged = resources.files("service").joinpath("templates")
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"

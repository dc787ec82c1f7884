"""setuptools build hook (`[tool.setuptools] cmdclass` in pyproject.toml).

The Jinja2 templates live in the top-level `templates/` folder of the checkout. A wheel (and
so the Docker image and any `pip install .`) gets a copy of that folder inside the package,
as `service/templates/`, so the installed server renders its pages from any working
directory. An editable install copies nothing: it reads `templates/` in the checkout
(`service/app.py` looks in both places).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class BuildPyWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "service" / "templates"
        shutil.rmtree(target, ignore_errors=True)  # a template removed since the last build
        shutil.copytree(TEMPLATES, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))

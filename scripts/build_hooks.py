"""setuptools build hook (`[tool.setuptools] cmdclass` in pyproject.toml).

The Jinja2 templates live in the top-level `templates/` folder of the checkout. A wheel (and
so the Docker image and any `pip install .`) gets a copy of that folder inside the package,
as `service/templates/`, so the installed server renders its pages from any working
directory. An editable install copies nothing: it reads `templates/` in the checkout
(`service/app.py` looks in both places).

The pages' gettext catalogs (`service/locale/<language>/LC_MESSAGES/messages.po`) are compiled
by Babel into the `messages.mo` files the server reads, next to them in the wheel; an editable
install reads the ones `scripts/install.sh` compiles in the checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
LOCALE = ROOT / "service" / "locale"


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Every `<lang>/LC_MESSAGES/*.po` under source, as .po and .mo under target (fuzzy
    entries left out, as `pybabel compile` does)."""
    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        into = target / po.parent.relative_to(source)
        into.mkdir(parents=True, exist_ok=True)
        shutil.copy2(po, into / po.name)
        with po.open("rb") as text:
            catalog = read_po(text, locale=po.parent.parent.name)
        with (into / po.with_suffix(".mo").name).open("wb") as mo:
            write_mo(mo, catalog)
        written.append(into / po.with_suffix(".mo").name)
    return written


class BuildPyWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "service" / "templates"
        shutil.rmtree(target, ignore_errors=True)  # a template removed since the last build
        shutil.copytree(TEMPLATES, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))
        locale = Path(self.build_lib) / "service" / "locale"
        shutil.rmtree(locale, ignore_errors=True)
        compile_catalogs(LOCALE, locale)

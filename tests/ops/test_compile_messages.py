"""``scripts/compile_messages.py``: a fresh machine without gettext still gets French."""

from __future__ import annotations

import gettext
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compile_messages.py"
spec = importlib.util.spec_from_file_location("compile_messages", SCRIPT)
compile_messages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compile_messages)

PO = r"""# A catalog with every construct the project's files use.
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\n"

#: smarketing/views.py:1
msgid "Sign in"
msgstr "Connexion"

#, fuzzy
msgid "Unsure"
msgstr "Pas sûr"

msgid "Untranslated"
msgstr ""

msgctxt "month"
msgid "May"
msgstr "Mai"

#, python-format
msgid "%(count)s lead"
msgid_plural "%(count)s leads"
msgstr[0] "%(count)s prospect"
msgstr[1] "%(count)s prospects"

msgid ""
"A long "
"line with \"quotes\"\n"
msgstr ""
"Une longue "
"ligne avec « guillemets »\n"

#~ msgid "Gone"
#~ msgstr "Parti"
"""


def catalog(mo: Path) -> gettext.GNUTranslations:
    with mo.open("rb") as fh:
        return gettext.GNUTranslations(fh)


def test_pure_python_compiler_reads_back(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(PO, encoding="utf-8")
    assert compile_messages.main(["--pure-python", "--force", str(po)]) == 0
    t = catalog(tmp_path / "django.mo")
    assert t.gettext("Sign in") == "Connexion"
    assert t.gettext("Unsure") == "Unsure"  # fuzzy entries are left out, as msgfmt does
    assert t.gettext("Untranslated") == "Untranslated"
    assert t.pgettext("month", "May") == "Mai"
    assert t.ngettext("%(count)s lead", "%(count)s leads", 1) == "%(count)s prospect"
    assert t.ngettext("%(count)s lead", "%(count)s leads", 3) == "%(count)s prospects"
    assert t.gettext('A long line with "quotes"\n') == "Une longue ligne avec « guillemets »\n"
    assert t.gettext("Gone") == "Gone"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext is not installed")
def test_same_catalog_as_msgfmt(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(PO, encoding="utf-8")
    subprocess.run(["msgfmt", "-o", str(tmp_path / "gnu.mo"), str(po)], check=True)
    compile_messages.main(["--pure-python", "--force", str(po)])
    assert catalog(tmp_path / "django.mo")._catalog == catalog(tmp_path / "gnu.mo")._catalog


def test_the_project_catalogs_compile(tmp_path):
    for po in compile_messages.find_catalogs():
        messages = compile_messages.parse_po(po.read_text(encoding="utf-8"), str(po))
        compile_messages.write_mo(messages, tmp_path / "check.mo")
        assert catalog(tmp_path / "check.mo").info().get("content-type", "").endswith("UTF-8")


def test_a_broken_catalog_is_reported(tmp_path, capsys):
    po = tmp_path / "django.po"
    po.write_text('msgid "x"\nmsgstr unquoted\n', encoding="utf-8")
    assert compile_messages.main(["--pure-python", "--force", str(po)]) == 1
    assert "expected a quoted string" in capsys.readouterr().err

"""The committed French catalog: complete, compiled, and used by the pages.

``locale/fr/LC_MESSAGES/django.po`` and its ``django.mo`` are both committed so that a
fresh machine needs no gettext. These tests catch the usual slips: a string left
untranslated or fuzzy after ``make messages``, a placeholder lost in translation, a
``.mo`` that was not recompiled after editing the ``.po``.
"""

from __future__ import annotations

import ast
import gettext
import importlib.util
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

# Python %-placeholders (named or not) and str.format fields, as gettext's python-format.
# No space flag: "40% first touch" / "40 % au premier" are prose, not "% f" / "% a".
PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0+]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]|\{[^{}]*\}")
# The HTML a few messages carry; <name> in "custom:<name>" is text, not a tag.
TAG = re.compile(r"</?(?:a|strong|em|code|b|i|br|span)\b[^>]*>")


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # 0 only, unless plural

    @property
    def label(self) -> str:
        return f"django.po:{self.line} {self.msgid[:60]!r}"


def parse_po(text: str) -> list[Entry]:
    """Every entry of a catalog (header included, obsolete ``#~`` entries left out)."""
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int] | None = None
    flags: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#~"):
            continue
        if not line or line.startswith("#"):
            if target is not None and target[0] == "msgstr":
                entry, target = None, None  # the entry ended with its msgstr
            if line.startswith("#,"):
                flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            assert entry is not None and target is not None, f"line {number}: stray string"
            value = ast.literal_eval(line)
        else:
            value = ast.literal_eval(rest)
            if keyword in ("msgctxt", "msgid") and (entry is None or target[0] == "msgstr"):
                entry = Entry(line=number, flags=flags)
                entries.append(entry)
                flags = set()
            assert entry is not None, f"line {number}: {keyword} outside an entry"
            if keyword.startswith("msgstr"):
                index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
                target = ("msgstr", index)
                entry.msgstr[index] = ""
            else:
                target = (keyword, 0)
                setattr(entry, keyword, "")
        if target[0] == "msgstr":
            entry.msgstr[target[1]] += value
        else:
            setattr(entry, target[0], getattr(entry, target[0]) + value)
    return entries


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return parse_po(PO.read_text(encoding="utf-8"))


def messages(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.msgid != ""]


def test_the_catalog_is_french_with_french_plurals(entries):
    header = entries[0]
    assert header.msgid == "" and "fuzzy" not in header.flags
    assert "Language: fr\n" in header.msgstr[0]
    assert "Plural-Forms: nplurals=2; plural=(n > 1);" in header.msgstr[0]
    assert len(messages(entries)) > 500  # the parser read the whole file


def test_every_message_is_translated_and_none_is_fuzzy(entries):
    fuzzy = [e.label for e in messages(entries) if "fuzzy" in e.flags]
    empty = [e.label for e in messages(entries) if not all(e.msgstr.values())]
    plural_forms = [
        e.label for e in messages(entries) if e.msgid_plural is not None and len(e.msgstr) != 2
    ]
    assert fuzzy == [], "fuzzy entries (check the guess, then remove the flag)"
    assert empty == [], "untranslated entries"
    assert plural_forms == [], "plural entries need msgstr[0] and msgstr[1]"


def test_translations_keep_placeholders_and_markup(entries):
    broken = []
    for e in messages(entries):
        source = e.msgid_plural if e.msgid_plural is not None else e.msgid
        wanted = sorted(PLACEHOLDER.findall(source))
        for index, msgstr in e.msgstr.items():
            got = sorted(PLACEHOLDER.findall(msgstr))
            # The French singular (n <= 1) may spell the number out: "une fois".
            ok = set(got) <= set(wanted) if index == 0 and e.msgid_plural else got == wanted
            if not ok or sorted(TAG.findall(e.msgid)) != sorted(TAG.findall(msgstr)):
                broken.append(f"{e.label} msgstr[{index}]")
    assert broken == []


def _catalog(mo: Path) -> dict:
    with mo.open("rb") as fh:
        catalog = dict(gettext.GNUTranslations(fh)._catalog)
    # GNU msgfmt drops POT-Creation-Date from the header, the pure-Python compiler keeps
    # it; it only says when strings were last extracted, so it is left out of the check.
    catalog[""] = re.sub(r"^POT-Creation-Date:.*\n", "", catalog.get("", ""), flags=re.M)
    return catalog


def _committed_catalog() -> dict:
    assert MO.exists(), "locale/fr/LC_MESSAGES/django.mo is missing: run make compile-messages"
    return _catalog(MO)


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU msgfmt is not installed")
def test_the_committed_mo_is_the_compiled_po(tmp_path):
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(PO)], check=True)
    assert _committed_catalog() == _catalog(fresh), (
        "django.mo is older than django.po: run `manage.py compilemessages -l fr`"
    )


def test_the_committed_mo_matches_the_po_without_gettext(tmp_path):
    """The same check on a machine without gettext, with the project's own compiler."""
    script = ROOT / "scripts" / "compile_messages.py"
    spec = importlib.util.spec_from_file_location("compile_messages", script)
    compiler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compiler)
    fresh = tmp_path / "django.mo"
    compiler.write_mo(compiler.parse_po(PO.read_text(encoding="utf-8"), str(PO)), fresh)
    assert _committed_catalog() == _catalog(fresh)


def test_the_login_page_speaks_french_by_default(client, db):
    response = client.get(reverse("accounts:login"))
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    assert "Ravi de vous revoir" in page
    assert "Se connecter" in page
    assert "Mot de passe oublié" in page
    assert "Welcome back" not in page


def test_the_login_page_speaks_english_with_the_language_cookie(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(reverse("accounts:login"))
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert "Welcome back" in page
    assert "Log in" in page
    assert "Ravi de vous revoir" not in page

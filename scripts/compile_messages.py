#!/usr/bin/env python3
"""Compile the project's translations (``.po`` → ``.mo``) for ``make run`` and ``make test``.

Uses GNU ``msgfmt`` when it is installed (what ``manage.py compilemessages`` runs);
otherwise a small pure-Python compiler, so that a fresh machine without the ``gettext``
package still gets a French UI. Only catalogs whose ``.po`` is newer than the ``.mo``
are compiled. ``make messages`` is the full extract-and-compile cycle for translators.

    python scripts/compile_messages.py [--force] [--pure-python] [PO_FILE ...]
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Directories never searched for catalogs (installed packages, data, build output).
SKIP = {".venv", "venv", ".git", "var", "staticfiles", "artifacts", "node_modules", "__pycache__"}


def find_catalogs(root: Path = ROOT) -> list[Path]:
    """Every ``<app or project>/locale/<lang>/LC_MESSAGES/*.po`` of the repository."""
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".")]
        here = Path(current)
        if here.name == "LC_MESSAGES" and here.parent.parent.name == "locale":
            found.extend(here / f for f in files if f.endswith(".po"))
    return sorted(found)


def _unquote(token: str, where: str) -> str:
    token = token.strip()
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ValueError(f"{where}: expected a quoted string, got {token!r}")
    # PO strings use C escapes, which Python's string literal syntax covers.
    return ast.literal_eval(token)


def parse_po(text: str, name: str = "<po>") -> dict[bytes, bytes]:
    """The translated entries of a catalog as {key: value} in .mo encoding (UTF-8).

    Keys follow gettext: ``context\\x04msgid``, ``msgid\\0msgid_plural``; plural
    translations are joined with NUL. Fuzzy, obsolete and untranslated entries are
    left out, as msgfmt does (the header is always kept: it carries Plural-Forms).
    """
    messages: dict[bytes, bytes] = {}
    entry: dict[str, object] = {}
    fuzzy = False
    field: str | None = None

    def flush() -> None:
        nonlocal entry, fuzzy, field
        if "msgid" in entry:
            msgid = str(entry["msgid"])
            plural = entry.get("msgid_plural")
            if plural is not None:
                strs = entry.get("msgstr_plural", {})
                assert isinstance(strs, dict)
                values = [strs[i] for i in sorted(strs)]
                key = msgid + "\0" + str(plural)
                value = "\0".join(values)
                translated = any(values)
            else:
                key = msgid
                value = str(entry.get("msgstr", ""))
                translated = bool(value)
            if "msgctxt" in entry:
                key = f"{entry['msgctxt']}\x04{key}"
            if (translated and not fuzzy) or msgid == "":
                messages[key.encode()] = value.encode()
        entry, fuzzy, field = {}, False, None

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{name}:{number}"
        if line.startswith("#~"):  # obsolete entry
            continue
        if not line or line.startswith("#"):
            if field is not None and field.startswith("msgstr"):
                flush()  # a comment or a blank line after a msgstr starts the next entry
            if line.startswith("#,"):
                fuzzy = "fuzzy" in [flag.strip() for flag in line[2:].split(",")]
            continue
        if line.startswith('"'):
            if field is None:
                raise ValueError(f"{where}: continuation line outside an entry")
            value = _unquote(line, where)
            if field.startswith("msgstr["):
                strs = entry["msgstr_plural"]
                assert isinstance(strs, dict)
                strs[int(field[7:-1])] += value
            else:
                entry[field] = str(entry[field]) + value
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and field is not None and field.startswith("msgstr"):
            flush()
        if keyword.startswith("msgstr[") and keyword.endswith("]"):
            entry.setdefault("msgstr_plural", {})
            strs = entry["msgstr_plural"]
            assert isinstance(strs, dict)
            strs[int(keyword[7:-1])] = _unquote(rest, where)
        elif keyword in ("msgctxt", "msgid", "msgid_plural", "msgstr"):
            entry[keyword] = _unquote(rest, where)
        else:
            raise ValueError(f"{where}: unknown keyword {keyword!r}")
        field = keyword
    flush()
    return messages


def write_mo(messages: dict[bytes, bytes], path: Path) -> None:
    """A GNU .mo file (little-endian, no hash table), as CPython's Tools/i18n/msgfmt.py."""
    keys = sorted(messages)
    ids = b"".join(k + b"\0" for k in keys)
    strs = b"".join(messages[k] + b"\0" for k in keys)
    count = len(keys)
    key_start = 7 * 4 + 16 * count
    value_start = key_start + len(ids)
    offsets: list[int] = []
    id_pos = str_pos = 0
    for k in keys:
        offsets += [len(k), key_start + id_pos]
        id_pos += len(k) + 1
    for k in keys:
        offsets += [len(messages[k]), value_start + str_pos]
        str_pos += len(messages[k]) + 1
    header = struct.pack(
        "<7I", 0x950412DE, 0, count, 7 * 4, 7 * 4 + count * 8, 0, 7 * 4 + 16 * count
    )
    tmp = path.with_suffix(".mo.tmp")
    tmp.write_bytes(header + struct.pack(f"<{len(offsets)}I", *offsets) + ids + strs)
    tmp.replace(path)


def compile_catalog(po: Path, *, pure_python: bool = False) -> str:
    mo = po.with_suffix(".mo")
    msgfmt = None if pure_python else shutil.which("msgfmt")
    if msgfmt:
        subprocess.run([msgfmt, "--check-format", "-o", str(mo), str(po)], check=True)
        return "msgfmt"
    write_mo(parse_po(po.read_text(encoding="utf-8"), str(po)), mo)
    return "python"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--force", action="store_true", help="compile even if up to date")
    parser.add_argument("--pure-python", action="store_true", help="do not use msgfmt")
    args = parser.parse_args(argv)
    catalogs = args.files or find_catalogs()
    compiled = 0
    for po in catalogs:
        mo = po.with_suffix(".mo")
        if not args.force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            how = compile_catalog(po, pure_python=args.pure_python)
        except (ValueError, subprocess.CalledProcessError) as exc:
            print(f"compile_messages: {po}: {exc}", file=sys.stderr)
            return 1
        compiled += 1
        print(f"compiled {po.relative_to(ROOT) if po.is_relative_to(ROOT) else po} ({how})")
    if not compiled:
        print("translations up to date" if catalogs else "no translation catalogs yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())

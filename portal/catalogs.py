"""The translation catalogs (locale/<lang>/LC_MESSAGES/django.po): extract, compile, check. Pure Python (Babel and
Django's own template scanner), so a machine without GNU gettext builds and checks them too.

    python -m portal.catalogs extract   # every marked string of the code into each .po (new ones untranslated)
    python -m portal.catalogs compile   # .po → .mo (the Makefile runs this before `make run` / `make test`)
    python -m portal.catalogs check     # lists each missing, untranslated, fuzzy or broken entry; exit 1 if any

Extraction reads what Django's makemessages reads (Python files, and .html / .txt templates through
django.utils.translation.template.templatize, which turns {% trans %} / {% blocktrans %} into gettext calls), with
xgettext's Django keywords. tests/portal/test_catalogs.py runs it on every test run, so a string added later
without its translations fails the suite.
"""

import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract as babel_extract
from babel.messages.extract import extract_python
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
DOMAIN = "django"
# Every language but the source language (English), as its locale folder is named.
LANGUAGES = ("de", "pt_BR", "es")
SKIP_DIRS = {".venv", "venv", "var", "tests", "bench", "locale", "node_modules", "static", "build", ".git",
             "migrations", "__pycache__", ".ruff_cache", ".pytest_cache", "control"}  # fmt: skip
TEMPLATE_SUFFIXES = (".html", ".txt")
# Django's makemessages passes these keywords to xgettext (django/core/management/commands/makemessages.py).
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w*)\}")


def _sources(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith(".py") or name.endswith(TEMPLATE_SUFFIXES):
                yield Path(folder) / name


def _template_as_python(path: Path) -> bytes:
    from django.conf import settings

    if not settings.configured:  # templatize reads no setting, but Django's lazy settings must be configured
        settings.configure()
    from django.utils.translation.template import templatize

    code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
    # What is not a message is blanked to filler words; their indentation would trip Python's tokenizer, which
    # (unlike xgettext) insists on consistent indentation. Lines are kept, so line numbers stay right.
    return "\n".join(line.lstrip() for line in code.split("\n")).encode("utf-8")


def extract(root: Path = ROOT) -> Catalog:
    """Every marked message of the code under `root`, as a template catalog (msgids only)."""
    template = Catalog(domain=DOMAIN, project="hub-portal", charset="utf-8")
    for path in _sources(root):
        source = _template_as_python(path) if path.name.endswith(TEMPLATE_SUFFIXES) else path.read_bytes()
        relative = path.relative_to(root).as_posix()
        found = babel_extract(extract_python, io.BytesIO(source), keywords=KEYWORDS, strip_comment_tags=True)
        for lineno, message, comments, context in found:
            template.add(message, locations=[(relative, lineno)], auto_comments=comments, context=context)
    return template


def _po_path(language: str, locale_dir: Path) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(path: Path, language: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def update(*, root: Path = ROOT, locale_dir: Path = LOCALE_DIR, languages=LANGUAGES) -> dict[str, int]:
    """Bring every catalog in line with the code: new messages added untranslated (never guessed: no fuzzy
    matching), messages gone from the code dropped. Returns how many are left to translate per language."""
    template = extract(root)
    left = {}
    for language in languages:
        path = _po_path(language, locale_dir)
        catalog = _read(path, language) if path.exists() else Catalog(locale=language, domain=DOMAIN)
        created = catalog.creation_date
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        # A fixed header: a rerun that changes no message changes no byte (branches merge without conflicts).
        catalog.creation_date, catalog.project, catalog.version = created, "hub-portal", "1"
        catalog.fuzzy = False  # the header is complete (GNU msgfmt would skip a fuzzy header)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=120, include_lineno=False, ignore_obsolete=True, sort_output=True)
        left[language] = len(problems(language, template=template, locale_dir=locale_dir))
    return left


def compile_all(*, locale_dir: Path = LOCALE_DIR, languages=LANGUAGES) -> list[Path]:
    """Each .po → its .mo (untranslated and fuzzy entries left out: they fall back to English)."""
    written = []
    for language in languages:
        path = _po_path(language, locale_dir)
        catalog = _read(path, language)
        with path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        written.append(path.with_suffix(".mo"))
    return written


def compile_stale(*, locale_dir: Path = LOCALE_DIR, languages=LANGUAGES) -> list[Path]:
    """Compile only the catalogs whose .mo is missing or older than the .po."""
    stale = [
        language
        for language in languages
        if not _po_path(language, locale_dir).with_suffix(".mo").exists()
        or _po_path(language, locale_dir).with_suffix(".mo").stat().st_mtime
        < _po_path(language, locale_dir).stat().st_mtime
    ]
    return compile_all(locale_dir=locale_dir, languages=stale) if stale else []


@dataclass(frozen=True)
class Problem:
    language: str
    msgid: str
    what: str  # missing | untranslated | fuzzy | placeholders

    def __str__(self) -> str:
        return f"{self.language}: {self.what}: {self.msgid!r}"


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def _message_problem(message, found) -> str | None:
    if found is None:
        return "missing"
    strings = found.string if isinstance(found.string, tuple | list) else (found.string,)
    if not all(strings):
        return "untranslated"
    if found.fuzzy:
        return "fuzzy"
    ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
    expected = set().union(*(_placeholders(i) for i in ids))
    if any(_placeholders(s) - expected for s in strings) or not _placeholders(strings[-1]) >= expected - {"count"}:
        return "placeholders"
    return None


def problems(language: str, *, template: Catalog | None = None, locale_dir: Path = LOCALE_DIR) -> list[Problem]:
    """Every message of the code that the language's catalog lacks, leaves untranslated, marks fuzzy, or
    translates with other placeholders than the English (a %(name)s that would raise at run time)."""
    template = template if template is not None else extract()
    path = _po_path(language, locale_dir)
    catalog = _read(path, language) if path.exists() else Catalog(locale=language)
    found = []
    for message in template:
        if not message.id:
            continue
        what = _message_problem(message, catalog.get(message.id, context=message.context))
        if what:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            found.append(Problem(language, key, what))
    return found


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "extract":
        for language, count in update().items():
            print(f"{language}: {count} to translate")
        return 0
    if command == "compile":
        for path in compile_all():
            print(f"compiled {path.relative_to(ROOT)}")
        return 0
    if command == "check":
        template = extract()
        found = [p for language in LANGUAGES for p in problems(language, template=template)]
        for problem in found:
            print(problem)
        print(f"{len(template) - 1} messages, {len(LANGUAGES)} languages, {len(found)} problems")
        return 1 if found else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The catalogs are complete: every message marked in the code (Python, templates, forms, emails, PDFs, API errors)
is translated in every language, nothing fuzzy, placeholders intact. The code is extracted afresh on each run, so a
string someone adds later without translating it fails here, naming it.

The fix for a failure: `make catalogs` (adds the new messages to each .po), translate them, `make test`."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils import translation

from portal import catalogs

ROOT = Path(settings.BASE_DIR)


@pytest.fixture(scope="module")
def code_messages():
    return catalogs.extract(ROOT)


@pytest.mark.parametrize("language", catalogs.LANGUAGES)
def test_every_message_of_the_code_is_translated(code_messages, language):
    problems = catalogs.problems(language, template=code_messages)

    assert [str(problem) for problem in problems] == []


def test_the_extraction_finds_what_the_code_marks(code_messages):
    """The extractor reads Python, {% trans %}, {% blocktrans %} with placeholders, and gettext_noop'd labels."""
    ids = {message.id for message in code_messages if message.id}

    assert {"Amount Payable", "Settled with Credit Balance", "Starting Balance", "Change language"} <= ids
    assert "Hello %(company)s," in ids  # blocktranslate with a variable (the invoice email)
    assert "License %(number)s (%(tier)s), %(month)s" in ids  # a line description (gettext_noop)
    assert "No API endpoint at this address." in ids  # an API error


def test_a_new_untranslated_string_is_caught(tmp_path):
    """A copy of the code with one new marked string and one new template string: both are reported missing in
    every language, and after `extract` they are in each .po, untranslated (never guessed)."""
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "forecast.py").write_text(
        'from django.utils.translation import gettext as _\n\nTEXT = _("Forecast for next month")\n'
        'TOTAL = _("Amount Payable")\n'
    )
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "alert.html").write_text('{% load i18n %}{% trans "Balance alert" %}\n')

    template = catalogs.extract(tmp_path)
    found = {(p.language, p.msgid, p.what) for lang in catalogs.LANGUAGES
             for p in catalogs.problems(lang, template=template, locale_dir=tmp_path / "locale")}  # fmt: skip

    assert found == {
        (lang, msgid, "missing")
        for lang in catalogs.LANGUAGES
        for msgid in ("Forecast for next month", "Balance alert")
    }
    catalogs.update(root=tmp_path, locale_dir=tmp_path / "locale")
    with (tmp_path / "locale" / "de" / "LC_MESSAGES" / "django.po").open("rb") as handle:
        german = read_po(handle)
    assert german.get("Balance alert").string == ""
    assert german.get("Amount Payable").string == "Zu zahlender Betrag"  # existing translations kept
    assert german.get("Ending Balance") is None  # gone from this (smaller) code: dropped


def test_fuzzy_and_broken_placeholders_are_problems(tmp_path, code_messages):
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    po = tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po"
    text = po.read_text(encoding="utf-8")
    text = text.replace('msgid "Amount Payable"', '#, fuzzy\nmsgid "Amount Payable"', 1)
    text = text.replace('msgstr "Hola, %(company)s:"', 'msgstr "Hola, %(empresa)s:"', 1)
    po.write_text(text, encoding="utf-8")

    found = {(p.msgid, p.what) for p in catalogs.problems("es", template=code_messages, locale_dir=tmp_path / "locale")}

    assert found == {("Amount Payable", "fuzzy"), ("Hello %(company)s,", "placeholders")}


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed: makemessages cannot run")
def test_django_makemessages_finds_nothing_the_catalogs_lack(tmp_path):
    """Django's own makemessages (GNU xgettext) on a copy of the code: every msgid it finds is translated too, so the
    pure-Python extractor misses nothing that makemessages would catch."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()  # fmt: skip
    for name in listed:
        if not name.startswith("locale/") and (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "locale").mkdir()
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "de", "--no-location", "-i", "tests/*", "-i", "bench/*"],
        cwd=tmp_path, check=True, capture_output=True, env={"PATH": "/usr/bin:/bin",
                                                             "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )  # fmt: skip
    with (tmp_path / "locale" / "de" / "LC_MESSAGES" / "django.po").open("rb") as handle:
        made = read_po(handle)
    with (ROOT / "locale" / "de" / "LC_MESSAGES" / "django.po").open("rb") as handle:
        ours = read_po(handle)

    lacking = [m.id for m in made if m.id and not (ours.get(m.id, context=m.context) or None)]
    untranslated = [m.id for m in made if m.id and ours.get(m.id, context=m.context) and not ours.get(
        m.id, context=m.context).string]  # fmt: skip
    assert (lacking, untranslated) == ([], [])


def test_the_compiled_catalogs_are_the_ones_django_reads():
    with translation.override("pt-br"):
        assert translation.gettext("Amount Payable") == "Valor a pagar"
    with translation.override("de"):
        assert translation.gettext("Settled with Credit Balance") == "Mit Guthaben verrechnet"
    with translation.override("es"):
        assert translation.gettext("Ending Balance") == "Saldo final"

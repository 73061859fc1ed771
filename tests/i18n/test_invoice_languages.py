"""Invoices in the billed party's language: the demo's Brazilian partner reads its Partner Plan invoice (PDF and
email) in Portuguese, the German client its Month Closing Invoice in German; the figures add up as in English, and
an issued invoice keeps the language it was issued in."""

import datetime as dt
from decimal import Decimal
from io import BytesIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from pypdf import PdfReader

from billing.invoicing.calendar import billing_run
from billing.models import Invoice, InvoiceKind
from billing.pdf import invoice_pdf_render
from clients.models import Client
from partners.models import Partner

pytestmark = pytest.mark.django_db
NBSP = "\xa0"


def pdf_text(invoice: Invoice) -> str:
    return " ".join(PdfReader(BytesIO(invoice_pdf_render(invoice=invoice))).pages[0].extract_text().split())


@pytest.fixture
def december_run(django_capture_on_commit_callbacks, settings, tmp_path):
    """The demo world (hub/demo.py), then the 1st of December's billing run with its emails delivered."""
    settings.MEDIA_ROOT = tmp_path / "media"
    with time_machine.travel(dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC), tick=False):
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    mail.outbox.clear()
    with (
        time_machine.travel(dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        billing_run(day=dt.date(2026, 12, 1))


def _mail_for(invoice: Invoice):
    (message,) = [m for m in mail.outbox if invoice.number in m.subject]
    return message


def test_the_brazilian_partners_plan_invoice_and_its_email_are_in_portuguese(december_run):
    invoice = Invoice.objects.get(partner__name="Conecta Brasil", kind=InvoiceKind.PARTNER_PLAN, period_key="2026-12")

    text = pdf_text(invoice)
    message = _mail_for(invoice)

    assert invoice.language == "pt-br"
    assert [(line.description, line.amount) for line in invoice.lines.order_by("position")] == [
        ("Plano de Parceiro Growth, dezembro de 2026", Decimal("500.00")), ("IVA 0%", Decimal("0.00")),
    ]  # fmt: skip
    assert invoice.total == Decimal("500.00") == sum(line.amount for line in invoice.lines.all())
    assert f"Fatura do Plano de Parceiro Nº {invoice.number} Faturar para Conecta Brasil Tecnologia Ltda." in text
    assert "01310-100 São Paulo – SP Brasil CNPJ/CPF: 11.222.333/0001-81" in text
    assert "Data de emissão 1 de dezembro de 2026" in text
    assert "Período de faturamento 1 de dezembro de 2026 – 31 de dezembro de 2026" in text
    assert "Plano de Parceiro Growth, dezembro de 2026 1 US$ 500,00 US$ 500,00" in text
    assert "Valor a pagar US$ 500,00 Não sujeito ao IVA alemão: local da prestação fora da UE." in text
    assert message.subject == f"Fatura do Plano de Parceiro {invoice.number} de Hub Portal GmbH"
    assert message.body.startswith(
        "Olá, Conecta Brasil Tecnologia Ltda.,\n\n"
        f"segue em anexo sua Fatura do Plano de Parceiro {invoice.number}.\n\n"
        f"Valor: US${NBSP}500,00\n"
        "Período de faturamento: 1 de dezembro de 2026 – 31 de dezembro de 2026\n"
    )
    assert message.attachments[0][0] == f"{invoice.number}.pdf"


def test_the_german_clients_month_closing_invoice_is_in_german_and_adds_up(december_run):
    mci = Invoice.objects.get(
        client__company_name="Bäckerei Müller GmbH", kind=InvoiceKind.MONTH_CLOSING, period_key="2026-11"
    )
    s = mci.summary
    lines = list(mci.lines.order_by("position"))

    text = pdf_text(mci)

    assert mci.language == "de"
    assert [line.description for line in lines] == [
        "WhatsApp-Nutzungskosten", "Mit Guthaben verrechnet", "Transaktionsgebühr", "USt. 19 %",
    ]  # fmt: skip
    ending = (Decimal(s["starting_balance"]) + Decimal(s["total_added_funds"]) - Decimal(s["total_usage"])
              + Decimal(s["total_refunds"]) + Decimal(s["usage_reconciliation"]))  # fmt: skip
    assert Decimal(s["ending_balance"]) == ending
    assert sum(line.amount for line in lines) == mci.total == max(Decimal("0.00"), -ending)
    usage = lines[0].amount
    assert f"Monatsabschlussrechnung Nr. {mci.number} BEZAHLT Kontodetails Hub-ID HUB-DEMQ7K2M" in text
    assert "Abrechnungszeitraum 1. November 2026 – 30. November 2026" in text
    assert "Rechnungsdatum 1. Dezember 2026" in text
    assert f"WhatsApp-Nutzungskosten 1 €{usage:.2f} €{usage:.2f}".replace(".", ",") in text
    assert f"Mit Guthaben verrechnet 1 −€{usage:.2f} −€{usage:.2f}".replace(".", ",") in text
    assert "Zu zahlender Betrag €0,00 Monatsübersicht Hub-ID HUB-DEMQ7K2M Anfangssaldo" in text
    for label, key in (("Anfangssaldo", "starting_balance"), ("Summe der Aufladungen", "total_added_funds"),
                       ("Gesamtnutzung", "total_usage"), ("Summe der Erstattungen", "total_refunds"),
                       ("Endsaldo", "ending_balance"), ("Nutzungsabgleich", "usage_reconciliation")):  # fmt: skip
        assert f"{label} €{Decimal(s[key]):.2f}".replace(".", ",") in text
    assert "Nutzung nach WABA, Telefonnummer, Kategorie und Markt" in text
    assert "Authentifizierung Deutschland" in text and "Übriges Westeuropa" in text
    message = _mail_for(mci)
    assert message.subject == f"Monatsabschlussrechnung {mci.number} von Hub Portal GmbH"
    assert "Abrechnungszeitraum: 1. November 2026 – 30. November 2026\nEs ist nichts mehr zu zahlen." in message.body


def test_an_issued_invoice_keeps_its_language_when_the_party_changes_it(december_run):
    invoice = Invoice.objects.get(partner__name="Conecta Brasil", kind=InvoiceKind.PARTNER_PLAN, period_key="2026-12")
    before = invoice_pdf_render(invoice=invoice)

    Partner.objects.filter(name="Conecta Brasil").update(invoice_language="en")
    Client.objects.filter(company_name="Bäckerei Müller GmbH").update(invoice_language="es")
    invoice.refresh_from_db()

    assert invoice.language == "pt-br"
    assert pdf_text(invoice) == " ".join(PdfReader(BytesIO(before)).pages[0].extract_text().split())
    if connection.vendor == "postgresql":  # the database itself refuses to change an issued invoice's language
        with pytest.raises(DatabaseError, match="issued invoices are immutable"), transaction.atomic():
            Invoice.objects.filter(pk=invoice.pk).update(language="en")


def test_an_english_partner_keeps_its_english_invoice(december_run):
    invoice = Invoice.objects.get(
        partner__name="Sunrise Messaging", kind=InvoiceKind.PARTNER_PLAN, period_key="2026-12"
    )

    text = pdf_text(invoice)

    assert invoice.language == "en"
    assert "Partner Plan Invoice No. " in text and "Issue date 1 Dec 2026" in text
    assert "Partner Plan Premium, December 2026 1 $1,000.00 $1,000.00" in text

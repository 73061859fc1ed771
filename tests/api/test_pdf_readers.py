"""One answer to "this invoice's PDF" (billing.pdf.invoice_pdf_bytes) for every reader: the Client Hub and Partner Hub
downloads, the client and partner API, the invoice_pdf command, the staff's resend and the delivery email. Each
gives the stored file; the first reader of an invoice not stored yet renders and stores it, so all later readers
(and the customer's email) get the same document; a stored file gone from disk is rendered and stored again."""

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client as PageClient

from billing.delivery import invoice_deliver
from billing.models import Invoice
from billing.staff_actions import staff_invoice_email_resend
from clients.models import ClientMembership
from partners.models import PartnerMembership
from tests.factories import UserFactory


def _page(world, invoice: Invoice) -> bytes:
    user = UserFactory()
    if invoice.partner_id:
        PartnerMembership.objects.create(user=user, partner=invoice.partner, role="viewer")
        url = f"/partner/invoices/{invoice.number}/pdf/"
    else:
        ClientMembership.objects.create(user=user, client=invoice.client, role="viewer")
        url = f"/client/invoices/{invoice.number}/pdf/"
    browser = PageClient()
    browser.force_login(user)
    response = browser.get(url)
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    return b"".join(response.streaming_content) if response.streaming else response.content


def _api(world, invoice: Invoice) -> bytes:
    if invoice.partner_id:
        response = world.api("partner").get(f"/api/v1/partner/invoices/{invoice.number}/pdf")
    else:
        response = world.api("client_a").get(f"/api/v1/invoices/{invoice.number}/pdf")
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    return response.content


def _command(world, invoice: Invoice, tmp_path: Path) -> bytes:
    output = tmp_path / "out.pdf"
    call_command("invoice_pdf", invoice.number, output=str(output), stdout=io.StringIO())
    return output.read_bytes()


def _attachment() -> bytes:
    (message,) = mail.outbox
    ((_, content, _),) = message.attachments
    mail.outbox.clear()
    return content


def _staff_resend(world, invoice: Invoice, capture) -> bytes:
    with capture(execute=True):
        staff_invoice_email_resend(user=UserFactory(is_staff=True), invoice=invoice, reason="Lost in spam",
                                   key=f"resend:{invoice.pk}:{len(mail.outbox)}:{dt.datetime.now(dt.UTC)}")  # fmt: skip
    return _attachment()


def _delivery(world, invoice: Invoice) -> bytes:
    Invoice.objects.filter(pk=invoice.pk).update(delivered_at=None)  # so each read here is a first delivery
    assert invoice_deliver(invoice_id=invoice.pk) is True
    return _attachment()


READERS = ["client page", "partner page", "client API", "partner API", "command", "staff resend", "delivery email"]


def read(reader: str, world, invoice: Invoice, tmp_path: Path, capture) -> bytes:
    invoice = Invoice.objects.get(pk=invoice.pk)  # as a request would load it
    if reader.endswith("page"):
        return _page(world, invoice)
    if reader.endswith("API"):
        return _api(world, invoice)
    if reader == "command":
        return _command(world, invoice, tmp_path)
    if reader == "staff resend":
        return _staff_resend(world, invoice, capture)
    return _delivery(world, invoice)


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_gets_the_stored_pdf_and_the_first_one_stores_it(
    reader, world, tmp_path, django_capture_on_commit_callbacks
):
    invoice = world.plan_invoice if reader.startswith("partner") else world.invoice_a
    assert not invoice.pdf  # issued, its delivery not run yet

    first = read(reader, world, invoice, tmp_path, django_capture_on_commit_callbacks)

    stored = Invoice.objects.get(pk=invoice.pk).pdf
    assert first.startswith(b"%PDF-")
    assert re.fullmatch(rf"invoices/\d{{4}}/\d{{2}}/{invoice.number}\.pdf", stored.name)
    with stored.open("rb") as file:
        assert file.read() == first
    # a second reader gets the very same stored document, not a new rendering
    assert read(reader, world, invoice, tmp_path, django_capture_on_commit_callbacks) == first


@pytest.mark.parametrize("reader", READERS)
def test_a_stored_pdf_gone_from_disk_is_rendered_and_stored_again(
    reader, world, tmp_path, django_capture_on_commit_callbacks
):
    invoice = world.plan_invoice if reader.startswith("partner") else world.invoice_a
    read("command", world, invoice, tmp_path, django_capture_on_commit_callbacks)
    stored = Invoice.objects.get(pk=invoice.pk).pdf
    Path(stored.path).unlink()

    again = read(reader, world, invoice, tmp_path, django_capture_on_commit_callbacks)

    assert again.startswith(b"%PDF-")
    restored = Invoice.objects.get(pk=invoice.pk).pdf
    with restored.open("rb") as file:
        assert file.read() == again

"""Invoice delivery: every issued invoice's PDF is emailed to the billing email of its billed company, once.

Issuing queues one delivery task per invoice after commit (billing/invoicing/issue.py); the task retries on its own
with back-off; the delivery sweep queues again every issued invoice still undelivered after DELIVERY_GRACE, so a
task lost with the broker, a worker or a long mail outage only delays the email. Staff see undelivered invoices,
with the last reason, in admin (Invoices, "Delivered").
"""

import datetime as dt
import logging

from django.db import transaction

from billing.emails import invoice_email_send
from billing.models import Invoice
from billing.pdf import invoice_pdf_bytes
from core import clock

logger = logging.getLogger(__name__)

DELIVERY_GRACE = dt.timedelta(minutes=15)  # the delivery task's own retries run about this long


class InvoiceDeliveryError(Exception):
    """The invoice cannot be delivered as it is (a draft, or no billing email): retrying will not help."""


def invoice_deliver(*, invoice_id: int) -> bool:
    """Email the issued invoice with its PDF attached and mark it delivered. True when it was sent now, False when
    it had been delivered already: a second or concurrent call sends nothing.

    The PDF is rendered and stored first, in its own write, so a refused email keeps it for the next try. The
    invoice row is then locked while the mail server is asked, so of two workers only the first sends; the second
    waits and finds it delivered. A failure (the mail server refusing, the connection lost) is recorded on the
    invoice for staff and raised for the task to retry. Delivery is at least once: only a crash between the mail
    server's acceptance and the commit sends it a second time."""
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.delivered_at is not None:
        return False
    try:
        _deliverable(invoice)
        pdf = invoice_pdf_bytes(invoice=invoice)
        with transaction.atomic():
            invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
            if invoice.delivered_at is not None:
                return False
            invoice_email_send(invoice=invoice, pdf=pdf)
            Invoice.objects.filter(pk=invoice_id).update(delivered_at=clock.now(), delivery_error="")
    except Exception as error:
        Invoice.objects.filter(pk=invoice_id).update(delivery_error=_reason(error))
        raise
    return True


def _deliverable(invoice: Invoice) -> None:
    if invoice.number is None:
        raise InvoiceDeliveryError(f"Invoice {invoice.pk} is a draft: only an issued invoice is delivered.")
    if not invoice.billed_company.get("billing_email"):
        raise InvoiceDeliveryError(f"Invoice {invoice.number} has no billing email to send it to.")


def _reason(error: Exception) -> str:
    return f"{clock.now():%Y-%m-%d %H:%M} UTC: {type(error).__name__}: {error}"[:300]


def invoices_undelivered(*, issued_before: dt.datetime) -> list[int]:
    """Issued invoices not delivered yet, issued before the given moment, oldest first (the sweep's work list)."""
    return list(
        Invoice.objects.filter(number__isnull=False, delivered_at__isnull=True, issued_at__lt=issued_before)
        .order_by("issued_at", "id")
        .values_list("id", flat=True)
    )

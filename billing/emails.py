"""Invoice emails to the billing email, with the PDF attached."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from billing.models import Invoice


def invoice_email_send(*, invoice: Invoice, pdf: bytes) -> None:
    recipient = invoice.billed_company.get("billing_email")
    if not recipient:
        return
    context = {"invoice": invoice, "provider": settings.PROVIDER_NAME}
    message = EmailMessage(
        subject=f"{invoice.get_kind_display()} {invoice.number} from {settings.PROVIDER_NAME}",
        body=render_to_string("billing/email/invoice_issued.txt", context),
        to=[recipient],
    )
    message.attach(f"{invoice.number}.pdf", pdf, "application/pdf")
    message.send()

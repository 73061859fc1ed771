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


def _send_to_billing_email(invoice: Invoice, subject: str, body: str) -> None:
    recipient = invoice.billed_company.get("billing_email")
    if recipient:
        EmailMessage(subject=subject, body=f"{body}\n\n{settings.PROVIDER_NAME}\n", to=[recipient]).send()


def payment_failed_email_send(
    *, invoice: Invoice, failures: list[str], final: bool, next_retry_at, manual_payment: str
) -> None:
    """The automatic charge (or a dunning retry) of an invoice failed: why, and what happens next."""
    company = invoice.billed_company.get("company_name", "")
    reasons = "\n".join(f"- {reason}" for reason in failures) or "- The payment was declined."
    if final:
        subject = f"Final notice: {invoice.get_kind_display()} {invoice.number} is unpaid"
        next_step = (
            "This was the last automatic attempt. Please pay the invoice now; services stay suspended until it is "
            "paid, and resume automatically once the payment is received."
        )
    else:
        subject = f"Payment failed: {invoice.get_kind_display()} {invoice.number}"
        retry = f" We will try again on {next_retry_at:%d %b %Y}." if next_retry_at else ""
        next_step = f"Manual payment is needed.{retry} Services resume automatically once the payment is received."
    body = (
        f"Hello {company},\n\n"
        f"we could not collect {invoice.total} {invoice.currency} for {invoice.get_kind_display()} {invoice.number}:\n"
        f"{reasons}\n\n{next_step}\n{manual_payment}"
    )
    _send_to_billing_email(invoice, subject, body)


VOUCHER_LINKS = (("hosted_url", "Open"), ("pdf_url", "Voucher PDF"), ("image_url", "QR code"),
                 ("expires_at", "Pay by"))  # fmt: skip


def voucher_email_send(*, invoice: Invoice, method: str, amount, voucher: dict) -> None:
    """A PIX code or Boleto was issued for an invoice: what to pay, how, and by when."""
    company = invoice.billed_company.get("company_name", "")
    lines = [f"Amount: {amount} BRL", f"{'PIX code' if voucher.get('kind') == 'pix' else 'Boleto number'}: "
             f"{voucher.get('reference', '')}"]  # fmt: skip
    lines += [f"{label}: {voucher[key]}" for key, label in VOUCHER_LINKS if voucher.get(key)]
    body = (
        f"Hello {company},\n\nyour {method} for {invoice.get_kind_display()} {invoice.number} is ready:\n"
        + "\n".join(lines)
        + "\n\nThe invoice is marked paid once the payment is confirmed."
    )
    _send_to_billing_email(invoice, f"{method} for {invoice.number}", body)

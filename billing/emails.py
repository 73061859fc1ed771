"""Invoice emails to the billing email, with the PDF attached. Each is written in the invoice's language (the one
it was issued in), with amounts and dates by billing.formats in that language."""

import datetime as dt

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from billing import formats
from billing.models import Invoice


def invoice_email_send(*, invoice: Invoice, pdf: bytes) -> None:
    recipient = invoice.billed_company.get("billing_email")
    if not recipient:
        return
    with translation.override(invoice.language):
        context = {
            "invoice": invoice,
            "provider": settings.PROVIDER_NAME,
            "amount": formats.money(invoice.total, invoice.currency),
            "period_start": formats.day(invoice.period_start),
            "period_end": formats.day(invoice.period_last_day),
        }
        subject = _("%(kind)s %(number)s from %(provider)s") % {
            "kind": invoice.get_kind_display(), "number": invoice.number, "provider": settings.PROVIDER_NAME,
        }  # fmt: skip
        message = EmailMessage(
            subject=subject, body=render_to_string("billing/email/invoice_issued.txt", context), to=[recipient]
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
    """The automatic charge (or a dunning retry) of an invoice failed: why, and what happens next. The reasons are
    the payment provider's own words."""
    with translation.override(invoice.language):
        _payment_failed_email_send(invoice, failures, final, next_retry_at, str(manual_payment))


def _payment_failed_email_send(invoice: Invoice, failures: list[str], final: bool, next_retry_at, manual: str) -> None:
    names = {"kind": invoice.get_kind_display(), "number": invoice.number}
    reasons = "\n".join(f"- {reason}" for reason in failures) or "- " + _("The payment was declined.")
    if final:
        subject = _("Final notice: %(kind)s %(number)s is unpaid") % names
        next_step = _(
            "This was the last automatic attempt. Please pay the invoice now; services stay suspended until it is "
            "paid, and resume automatically once the payment is received."
        )
    else:
        subject = _("Payment failed: %(kind)s %(number)s") % names
        retry = " " + _("We will try again on %(day)s.") % {"day": formats.day(next_retry_at)} if next_retry_at else ""
        next_step = (
            _("Manual payment is needed.")
            + retry
            + " "
            + _("Services resume automatically once the payment is received.")
        )
    body = (
        _("Hello %(company)s,") % {"company": invoice.billed_company.get("company_name", "")}
        + "\n\n"
        + _("we could not collect %(amount)s for %(kind)s %(number)s:")
        % {**names, "amount": formats.money(invoice.total, invoice.currency)}
        + f"\n{reasons}\n\n{next_step}\n{manual}"
    )
    _send_to_billing_email(invoice, subject, body)


VOUCHER_LINKS = (("hosted_url", gettext_noop("Open")), ("pdf_url", gettext_noop("Voucher PDF")),
                 ("image_url", gettext_noop("QR code")), ("expires_at", gettext_noop("Pay by")))  # fmt: skip


def _voucher_value(key: str, value: str) -> str:
    if key == "expires_at":  # an ISO moment: shown in UTC, as the voucher's pages say
        return f"{formats.moment(dt.datetime.fromisoformat(value), tz=dt.UTC)} UTC"
    return value


def voucher_email_send(*, invoice: Invoice, method: str, amount, voucher: dict) -> None:
    """A PIX code or Boleto was issued for an invoice: what to pay, how, and by when."""
    with translation.override(invoice.language):
        names = {"method": method, "kind": invoice.get_kind_display(), "number": invoice.number}
        reference = _("PIX code") if voucher.get("kind") == "pix" else _("Boleto number")
        lines = [f"{_('Amount')}: {formats.money(amount, 'BRL')}", f"{reference}: {voucher.get('reference', '')}"]
        links = [(label, _voucher_value(key, voucher[key])) for key, label in VOUCHER_LINKS if voucher.get(key)]
        lines += [f"{_(label)}: {value}" for label, value in links]
        body = (
            _("Hello %(company)s,") % {"company": invoice.billed_company.get("company_name", "")}
            + "\n\n"
            + _("your %(method)s for %(kind)s %(number)s is ready:") % names
            + "\n"
            + "\n".join(lines)
            + "\n\n"
            + _("The invoice is marked paid once the payment is confirmed.")
        )
        _send_to_billing_email(invoice, _("%(method)s for %(number)s") % names, body)

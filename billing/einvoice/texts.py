"""The free texts of an e-invoice (document name, notes, exemption reason, payment terms), all from gettext strings
rendered under one `translation.override`, so the e-invoice speaks the invoice's language once it has one."""

from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from billing.einvoice.tax_cases import NOT_SUBJECT, REVERSE_CHARGE

PAYMENT_CARD = "card"
PAYMENT_TRANSFER = "transfer"
PAYMENT_VOUCHER = "voucher"
PAYMENT_CLEARING = "clearing"  # a credit note: set off against the invoice it corrects


@dataclass(frozen=True)
class TextsInput:
    """What the texts depend on: known before any XML is written."""

    type_code: str
    number: str
    tax_category: str
    tax_note: str
    payment: str  # PAYMENT_CARD / PAYMENT_TRANSFER / PAYMENT_VOUCHER / PAYMENT_CLEARING
    voucher_methods: str  # "PIX", "Boleto", "PIX or Boleto"
    iban: str
    credited_invoice: str = ""
    credit_reason: str = ""
    summary: tuple[tuple[str, str], ...] = ()  # a Month Closing Invoice's Monthly Summary, as printed
    prepayment_invoices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Texts:
    document_name: str
    exemption_reason: str
    payment_terms: str
    payment_means_information: str
    notes: tuple[tuple[str, str], ...]  # (UNTDID 4451 subject code, text)
    credit_line: str


def einvoice_language(invoice) -> str:
    """The language an e-invoice's free texts are written in: the invoice's own (snapshotted at issue, so the XML
    re-renders identically), as its PDF."""
    return invoice.language or settings.LANGUAGE_CODE


def einvoice_texts(given: TextsInput, *, language: str) -> Texts:
    with translation.override(language):
        names = {"380": _("Invoice"), "386": _("Prepayment invoice"), "381": _("Credit note")}
        exemption = {
            REVERSE_CHARGE: _("Reverse charge: VAT to be accounted for by the recipient (Article 196, Council "
                              "Directive 2006/112/EC)."),
            NOT_SUBJECT: _("Not subject to VAT: not taxable in Germany, the place of supply is outside the EU "
                           "(§ 3a (2) UStG)."),
        }.get(given.tax_category, "")  # fmt: skip
        payment = {
            PAYMENT_CARD: _("Payable upon receipt. The amount is charged automatically to the card saved in your "
                            "Hub."),
            PAYMENT_TRANSFER: _("Payable upon receipt by SEPA credit transfer to IBAN %(iban)s, quoting %(number)s.")
            % {"iban": given.iban, "number": given.number},
            PAYMENT_VOUCHER: _("Payable upon receipt by %(methods)s in the Partner Hub.")
            % {"methods": given.voucher_methods},
            PAYMENT_CLEARING: _("Credited against invoice %(invoice)s.") % {"invoice": given.credited_invoice},
        }[given.payment]  # fmt: skip
        means = {
            PAYMENT_CARD: _("Card saved in the Hub, charged automatically"),
            PAYMENT_TRANSFER: _("SEPA credit transfer"),
            PAYMENT_VOUCHER: given.voucher_methods,
            PAYMENT_CLEARING: _("Set off against invoice %(invoice)s") % {"invoice": given.credited_invoice},
        }[given.payment]
        notes = []
        if given.tax_note:
            notes.append(("TXD", given.tax_note))
        if given.summary:
            figures = "; ".join(f"{label} {value}" for label, value in given.summary)
            notes.append(("AAI", _("Monthly Summary: ") + figures))
        if given.prepayment_invoices:
            notes.append(("AAI", _("Usage settled with the Credit Balance was invoiced, with its VAT, on the "
                                   "prepayment invoices that funded it, this month: %(numbers)s.")
                          % {"numbers": ", ".join(given.prepayment_invoices)}))  # fmt: skip
        if given.credited_invoice:
            notes.append(("AAI", _("Correction of invoice %(invoice)s: %(reason)s")
                          % {"invoice": given.credited_invoice, "reason": given.credit_reason}))  # fmt: skip
        credit_line = _("Credit for invoice %(invoice)s") % {"invoice": given.credited_invoice}
        return Texts(names[given.type_code], exemption, payment, means, tuple(notes), credit_line)

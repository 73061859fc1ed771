"""What an e-invoice says, read from an issued invoice or a credit note: its snapshot and lines, never recomputed
from the ledger. The figures are the printed ones (billing/pdf.py prints the same invoice fields and lines).

How the Month Closing Invoice keeps the rules: its printed lines are the invoice lines, the negative ones
(Settled with Credit Balance, a negative Usage Reconciliation) as a negative quantity at a positive price (BR-27
forbids a negative item net price; a negative line net amount, BT-131, is allowed). The VAT breakdown is then
19 % of the lines' sum, which is exactly the newly payable amount plus the fee, the VAT the PDF prints. A prepaid
amount (BT-113) would have been wrong: it deducts a *gross* prepayment from a grand total whose VAT covers the whole
usage, while the portal charges the VAT when the credit is bought (on the prepayment invoice, type 386) and not
again when it is used. A document-level allowance (BG-20) would have said "discount", which this is not.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from billing.einvoice.seller import Seller, seller
from billing.einvoice.tax_cases import TaxCase, invoice_tax_case
from billing.einvoice.texts import (
    PAYMENT_CARD,
    PAYMENT_CLEARING,
    PAYMENT_TRANSFER,
    PAYMENT_VOUCHER,
    Texts,
    TextsInput,
    einvoice_language,
    einvoice_texts,
)
from billing.formats import SUMMARY_LABELS, money_format
from billing.models import CreditNote, Invoice, InvoiceKind, InvoiceLine, PaymentMethod, PaymentMethodKind
from billing.money import cents

TYPE_INVOICE = "380"
TYPE_PREPAYMENT = "386"
TYPE_CREDIT_NOTE = "381"
# UNTDID 4461: 48 bank card; 58 SEPA credit transfer; 68 online payment service (PIX / Boleto through Stripe);
# 97 clearing between partners (a credit note set off against its invoice).
MEANS_CODES = {PAYMENT_CARD: "48", PAYMENT_TRANSFER: "58", PAYMENT_VOUCHER: "68", PAYMENT_CLEARING: "97"}
VOUCHER_NAMES = {PaymentMethodKind.PIX: "PIX", PaymentMethodKind.BOLETO: "Boleto"}


@dataclass(frozen=True)
class Line:
    position: int
    name: str
    quantity: Decimal  # negative for a credit line (BT-129)
    price: Decimal  # never negative (BR-27)
    net: Decimal  # BT-131, as printed


@dataclass(frozen=True)
class EDocument:
    number: str
    type_code: str
    issue_date: dt.date
    currency: str
    seller: Seller
    buyer: dict  # the billed company's snapshot
    tax_case: TaxCase
    lines: tuple[Line, ...]
    line_total: Decimal  # BT-106 = BT-109
    tax_total: Decimal  # BT-110 = BT-117
    grand_total: Decimal  # BT-112
    due_amount: Decimal  # BT-115, the printed Amount Payable
    period_start: dt.date
    period_last_day: dt.date
    due_date: dt.date
    payment: str
    texts: Texts
    buyer_reference: str = ""
    preceding: tuple[str, dt.date] | None = None  # BG-3
    card_last4: str = ""  # BT-87: only the last digits of a card, never its number (BR-51)


def _issue_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros beyond the cents, never in exponent notation (xs:decimal has none): 0.123400 → 0.1234,
    250.000000 → 250.00."""
    return max(value.normalize(), value.quantize(Decimal("0.01")), key=lambda d: -d.as_tuple().exponent)


def _line(position: int, line: InvoiceLine) -> Line:
    sign = -1 if line.amount < 0 else 1
    price = abs(line.unit_amount) if line.quantity else abs(line.amount)
    return Line(position, line.description, sign * abs(line.quantity), _plain(price), line.amount)


def _methods(invoice: Invoice) -> list[tuple[str, str]]:
    """The billed party's saved methods (kind, card's last 4 digits), first charged first."""
    party = {"partner_id": invoice.partner_id} if invoice.partner_id else {"client_id": invoice.client_id}
    return list(PaymentMethod.objects.filter(**party).order_by("position", "id").values_list("kind", "last4"))


def _card_last4(invoice: Invoice) -> str:
    if not invoice.pays_by_card:
        return ""
    return next((last4 for kind, last4 in _methods(invoice) if kind == PaymentMethodKind.CARD and last4), "")


def _payment(invoice: Invoice) -> tuple[str, str]:
    """How the invoice is paid: the card the issue found on file, else the party's PIX / Boleto, else a transfer."""
    if invoice.pays_by_card:
        return PAYMENT_CARD, ""
    kinds = [kind for kind, _ in _methods(invoice)]
    vouchers = [VOUCHER_NAMES[kind] for kind in kinds if kind in VOUCHER_NAMES]
    if kinds and kinds[0] in VOUCHER_NAMES:
        return PAYMENT_VOUCHER, " / ".join(dict.fromkeys(vouchers))
    return PAYMENT_TRANSFER, ""


def _prepayment_numbers(invoice: Invoice) -> tuple[str, ...]:
    if invoice.kind != InvoiceKind.MONTH_CLOSING:
        return ()
    numbers = Invoice.objects.filter(
        hub_id=invoice.hub_id, kind=InvoiceKind.PREPAYMENT, period_start__gte=invoice.period_start,
        period_start__lt=invoice.period_end, number__isnull=False,
    ).order_by("number").values_list("number", flat=True)  # fmt: skip
    return tuple(numbers)


def _summary(invoice: Invoice) -> tuple[tuple[str, str], ...]:
    """The Monthly Summary exactly as the PDF prints it (its labels and money format)."""
    if invoice.kind != InvoiceKind.MONTH_CLOSING or not invoice.summary:
        return ()
    rows = [("Hub ID", invoice.summary.get("hub_id", ""))]
    rows += [(label, money_format(invoice.summary.get(key, "0"), invoice.currency)) for key, label in SUMMARY_LABELS]
    return tuple(rows)


def buyer_reference_of(invoice: Invoice) -> str:
    """The Leitweg-ID / buyer reference snapshotted at issue, else the client's current one (set later)."""
    reference = (invoice.billed_company or {}).get("buyer_reference", "")
    if not reference and invoice.client_id:
        reference = invoice.client.buyer_reference
    return reference


def invoice_document(invoice: Invoice) -> EDocument:
    lines = [line for line in invoice.lines.order_by("position") if line.role != InvoiceLine.Role.TAX]
    tax_case = invoice_tax_case(invoice)
    type_code = TYPE_PREPAYMENT if invoice.kind == InvoiceKind.PREPAYMENT else TYPE_INVOICE
    payment, vouchers = _payment(invoice)
    the_seller = seller()
    texts = einvoice_texts(
        TextsInput(
            type_code=type_code, number=invoice.number, tax_category=tax_case.category, tax_note=invoice.tax_note,
            payment=payment, voucher_methods=vouchers, iban=the_seller.iban_display, summary=_summary(invoice),
            prepayment_invoices=_prepayment_numbers(invoice),
        ),
        language=einvoice_language(invoice),
    )  # fmt: skip
    return EDocument(
        number=invoice.number, type_code=type_code, issue_date=_issue_date(invoice.issued_at),
        currency=invoice.currency, seller=the_seller, buyer=invoice.billed_company or {}, tax_case=tax_case,
        lines=tuple(_line(n, line) for n, line in enumerate(lines, start=1)),
        line_total=invoice.net_amount + invoice.fee_amount, tax_total=invoice.tax_amount,
        grand_total=invoice.total, due_amount=invoice.total, period_start=invoice.period_start,
        period_last_day=invoice.period_last_day, due_date=invoice.due_date or _issue_date(invoice.issued_at),
        payment=payment, texts=texts, buyer_reference=buyer_reference_of(invoice), card_last4=_card_last4(invoice),
    )  # fmt: skip


def credit_note_split(credit_note: CreditNote) -> tuple[Decimal, Decimal]:
    """(net, VAT) of a credit note, whose amount is gross at its invoice's rate: net half-up to cents, VAT the rest,
    so net + VAT is exactly the amount credited."""
    rate = credit_note.invoice.tax_rate
    net = cents(credit_note.amount / (1 + rate))
    return net, credit_note.amount - net


def credit_note_document(credit_note: CreditNote) -> EDocument:
    invoice = credit_note.invoice
    tax_case = invoice_tax_case(invoice)
    net, tax = credit_note_split(credit_note)
    the_seller = seller()
    texts = einvoice_texts(
        TextsInput(
            type_code=TYPE_CREDIT_NOTE, number=credit_note.number, tax_category=tax_case.category,
            tax_note=invoice.tax_note, payment=PAYMENT_CLEARING, voucher_methods="", iban=the_seller.iban_display,
            credited_invoice=invoice.number, credit_reason=credit_note.reason,
        ),
        language=einvoice_language(invoice),
    )  # fmt: skip
    issue_date = _issue_date(credit_note.issued_at)
    return EDocument(
        number=credit_note.number, type_code=TYPE_CREDIT_NOTE, issue_date=issue_date, currency=credit_note.currency,
        seller=the_seller, buyer=invoice.billed_company or {}, tax_case=tax_case,
        lines=(Line(1, texts.credit_line, Decimal(1), net, net),), line_total=net, tax_total=tax,
        grand_total=credit_note.amount, due_amount=credit_note.amount, period_start=invoice.period_start,
        period_last_day=invoice.period_last_day, due_date=issue_date, payment=PAYMENT_CLEARING, texts=texts,
        buyer_reference=buyer_reference_of(invoice), preceding=(invoice.number, _issue_date(invoice.issued_at)),
    )  # fmt: skip

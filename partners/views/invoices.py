"""Partner Hub invoicing: the partner's own Partner Plan invoices, never its clients' invoices."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from billing.models import CreditNote, InvoiceLine, InvoiceStatus
from billing.pdf import invoice_pdf_bytes
from billing.selectors.partners import plan_invoice_get, plan_invoices
from portal import downloads
from portal.scope import partner_required

PAGE_SIZE = 25


def _invoice_or_404(request: HttpRequest, number: str):
    invoice = plan_invoice_get(partner=request.membership.party, number=number)
    if invoice is None:
        raise Http404
    return invoice


@partner_required
@require_GET
def invoice_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(plan_invoices(partner=request.membership.party), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "payable": (InvoiceStatus.PENDING, InvoiceStatus.UNPAID)}
    return render(request, "partners/invoices.html", context)


@partner_required
@require_GET
def invoice_detail(request: HttpRequest, number: str) -> HttpResponse:
    invoice = _invoice_or_404(request, number)
    lines = list(invoice.lines.order_by("position"))
    context = {
        "invoice": invoice,
        "lines": lines,
        "credit_notes": list(invoice.credit_notes.order_by("issued_at")),
        "tax_row": invoice.tax_amount != 0 and not any(line.role == InvoiceLine.Role.TAX for line in lines),
        "payable": invoice.status in (InvoiceStatus.PENDING, InvoiceStatus.UNPAID),
    }
    return render(request, "partners/invoice_detail.html", context)


@partner_required
@require_GET
def invoice_pdf(request: HttpRequest, number: str) -> HttpResponse:
    """The stored PDF, else rendered now and stored (invoice_pdf_bytes)."""
    invoice = _invoice_or_404(request, number)
    response = HttpResponse(invoice_pdf_bytes(invoice=invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    return response


@partner_required
@require_GET
def invoice_xml(request: HttpRequest, number: str) -> HttpResponse:
    """The e-invoice (Factur-X EN 16931 CII) of a Partner Plan invoice."""
    return downloads.invoice_xml_response(_invoice_or_404(request, number), request.GET.get("syntax"))


def _credit_note(request: HttpRequest, number: str) -> CreditNote:
    return get_object_or_404(CreditNote, invoice__partner=request.membership.party, number=number)


@partner_required
@require_GET
def credit_note_pdf(request: HttpRequest, number: str) -> HttpResponse:
    return downloads.credit_note_pdf_response(_credit_note(request, number))


@partner_required
@require_GET
def credit_note_xml(request: HttpRequest, number: str) -> HttpResponse:
    return downloads.credit_note_xml_response(_credit_note(request, number), request.GET.get("syntax"))

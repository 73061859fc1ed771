"""Client Hub invoices: the list (filters, pages), one invoice with its lines and payments, its PDF and e-invoice
XML, its credit notes' PDF and XML."""

import io

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from billing.formats import SUMMARY_LABELS
from billing.models import CreditNote, InvoiceKind
from billing.pdf import InvoicePdfError, invoice_pdf_bytes
from billing.selectors import clients as selectors
from billing.selectors.usage_breakdown import mci_usage_breakdown
from clients.forms import InvoiceFilterForm
from portal import downloads
from portal.scope import client_required


@client_required
@require_GET
def invoice_list(request):
    filters = InvoiceFilterForm(request.GET)
    filters.is_valid()  # an invalid filter is shown with its error and left out
    data = filters.cleaned_data
    page = selectors.invoice_page(
        client=request.membership.party,
        kind=data.get("kind", ""),
        status=data.get("status", ""),
        month=filters.month() if "period" in data else None,
        page=request.GET.get("page", 1),
    )
    filtered = any(data.get(name) for name in ("kind", "status", "period"))
    return render(request, "clients/invoice_list.html", {"filters": filters, "page": page, "filtered": filtered})


@client_required
@require_GET
def invoice_detail(request, number: str):
    detail = selectors.invoice_detail(client=request.membership.party, number=number)
    context = {"detail": detail, "invoice": detail.invoice}
    if detail.invoice.kind == InvoiceKind.MONTH_CLOSING:
        context.update(_month_closing(detail.invoice))
    return render(request, "clients/invoice_detail.html", context)


def _month_closing(invoice) -> dict:
    """The Monthly Summary and the usage breakdown as the invoice's PDF prints them (the same figures)."""
    summary = invoice.summary or {}
    return {
        "summary_rows": [(label, summary.get(key, "0")) for key, label in SUMMARY_LABELS],
        "usage_rows": mci_usage_breakdown(invoice=invoice),  # the rows printed on the PDF
    }


@client_required
@require_GET
def invoice_pdf(request, number: str):
    """The stored PDF, else rendered now and stored (invoice_pdf_bytes)."""
    invoice = selectors.invoice_of_client(client=request.membership.party, number=number)
    try:
        data = invoice_pdf_bytes(invoice=invoice)
    except InvoicePdfError as error:
        raise Http404(str(error)) from error
    return FileResponse(io.BytesIO(data), as_attachment=True, filename=f"{invoice.number}.pdf",
                        content_type="application/pdf")  # fmt: skip


@client_required
@require_GET
def invoice_xml(request, number: str):
    """The e-invoice: Factur-X (EN 16931 CII), or XRechnung with ?syntax=xrechnung for a client with a Leitweg-ID."""
    invoice = selectors.invoice_of_client(client=request.membership.party, number=number)
    return downloads.invoice_xml_response(invoice, request.GET.get("syntax"))


def _credit_note(request, number: str):
    return get_object_or_404(CreditNote, invoice__client=request.membership.party, number=number)


@client_required
@require_GET
def credit_note_pdf(request, number: str):
    return downloads.credit_note_pdf_response(_credit_note(request, number))


@client_required
@require_GET
def credit_note_xml(request, number: str):
    return downloads.credit_note_xml_response(_credit_note(request, number), request.GET.get("syntax"))

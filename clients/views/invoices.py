"""Client Hub invoices: the list (filters, pages), one invoice with its lines and payments, its PDF."""

import io

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.models import InvoiceKind
from billing.pdf import SUMMARY_LABELS, InvoicePdfError, invoice_pdf_render, usage_breakdown
from clients import selectors
from clients.forms import InvoiceFilterForm
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
        "usage_rows": usage_breakdown(invoice),
    }


@client_required
@require_GET
def invoice_pdf(request, number: str):
    """The stored PDF when there is one, else rendered now (the same template)."""
    invoice = selectors.invoice_of_client(client=request.membership.party, number=number)
    if invoice.pdf:
        try:
            return FileResponse(invoice.pdf.open("rb"), as_attachment=True, filename=f"{invoice.number}.pdf",
                                content_type="application/pdf")  # fmt: skip
        except FileNotFoundError:
            pass  # the stored file is gone: render it again
    try:
        data = invoice_pdf_render(invoice=invoice)
    except InvoicePdfError as error:
        raise Http404(str(error)) from error
    return FileResponse(io.BytesIO(data), as_attachment=True, filename=f"{invoice.number}.pdf",
                        content_type="application/pdf")  # fmt: skip

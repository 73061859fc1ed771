"""Client Hub invoices: the list (filters, pages), one invoice with its lines and payments, its PDF."""

import io

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.pdf import InvoicePdfError, invoice_pdf_bytes
from billing.selectors import clients as selectors
from billing.selectors.usage_breakdown import mci_usage_breakdown
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
    usage_rows = mci_usage_breakdown(invoice=detail.invoice)  # the rows printed on the PDF
    context = {"detail": detail, "invoice": detail.invoice, "usage_rows": usage_rows}
    return render(request, "clients/invoice_detail.html", context)


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

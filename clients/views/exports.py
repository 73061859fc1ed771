"""Client Hub downloads: the invoice list (with the page's filters) and a month's usage breakdown, as CSV.

In the reader's language (billing.formats): translated headers and labels, figures with the language's decimal
sign, numeric dates, ";" as the delimiter where the decimal sign is a comma, and a byte order mark so a spreadsheet
reads the file as UTF-8. Times are in the person's time zone, named in the header.
"""

import csv
import datetime as dt

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from billing import formats
from billing.selectors import clients as selectors
from clients.forms import InvoiceFilterForm
from core import clock
from portal.scope import client_required

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value) -> str:
    """A text cell a spreadsheet will not run as a formula (company and WABA names are typed by people)."""
    value = "" if value is None else str(value)
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _csv_response(filename: str) -> tuple[HttpResponse, csv.writer]:
    response = HttpResponse("\ufeff", content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response, csv.writer(response, delimiter=formats.csv_delimiter(), lineterminator="\r\n")


@client_required
@require_GET
def invoice_list_csv(request):
    filters = InvoiceFilterForm(request.GET)
    filters.is_valid()
    data = filters.cleaned_data
    invoices = selectors.invoices_for_export(
        client=request.membership.party, kind=data.get("kind", ""), status=data.get("status", ""),
        month=filters.month() if "period" in data else None,
    )  # fmt: skip
    response, writer = _csv_response("invoices.csv")
    zone = timezone.get_current_timezone_name()
    writer.writerow([_("Number"), _("Kind"), _("Hub ID"), _("Hub"), _("Period start"), _("Period end"),
                     _("Issued (%(zone)s)") % {"zone": zone}, _("Due"), _("Status"), _("Currency"), _("Net"),
                     _("Fee"), _("Tax"), _("Total")])  # fmt: skip
    for invoice in invoices:
        writer.writerow([
            invoice.number, invoice.get_kind_display(), invoice.hub.hub_id if invoice.hub else "",
            _text(invoice.hub.name if invoice.hub else ""), formats.csv_day(invoice.period_start),
            formats.csv_day(invoice.period_end - dt.timedelta(days=1)), formats.csv_moment(invoice.issued_at),
            formats.csv_day(invoice.due_date), invoice.get_status_display(), invoice.currency,
            *(formats.csv_decimal(amount) for amount in (invoice.net_amount, invoice.fee_amount,
                                                          invoice.tax_amount, invoice.total)),
        ])  # fmt: skip
    return response


@client_required
@require_GET
def usage_csv(request):
    """One row per WABA × number × category × market of the month (default: this month), as on the Funds page."""
    hub = selectors.hub_of_client(client=request.membership.party, hub_id=request.GET.get("hub"))
    month = clock.month_start(clock.now())
    try:
        if request.GET.get("month"):
            month = dt.date.fromisoformat(f"{request.GET['month']}-01")
    except ValueError:
        return HttpResponse(_("Give the month as YYYY-MM."), status=400, content_type="text/plain")
    response, writer = _csv_response(f"usage-{hub.hub_id}-{month:%Y-%m}.csv")
    writer.writerow([_("Hub ID"), _("Month"), _("WABA"), _("WABA ID"), _("Number"), _("Category"), _("Market"),
                     _("Messages"), _("Billable"), _("Currency"), _("Cost")])  # fmt: skip
    for row in selectors.usage_breakdown(hub=hub, month=month):
        writer.writerow([
            hub.hub_id, f"{month:%Y-%m}", _text(row["waba__name"]), row["waba__meta_waba_id"],
            row["phone_number__e164"], row["category_label"], row["market"], row["messages"], row["billable"],
            hub.currency, formats.csv_decimal(row["cost"]),
        ])  # fmt: skip
    return response

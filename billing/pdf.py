"""Invoice PDFs: `templates/pdf/invoice.html` rendered by xhtml2pdf on A4 and stored on the invoice.

DejaVu Sans is embedded (static/fonts) because the PDF base fonts have no glyphs beyond Latin-1 (no €, no "Ł"), and
because PDF/A-3 (the e-invoice, billing/einvoice/embed.py) forbids a font that is not embedded: see invoice_fonts.
Every figure printed is rounded half-up to cents (DESIGN.md, Money).

An invoice renders in the language it was issued in (Invoice.language): its labels from the catalogs, its figures
and dates by billing.formats in that language. Its lines and tax note were written in it at issue.
"""

import datetime as dt
import functools
import gc
from contextvars import ContextVar
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from reportlab import rl_config
from reportlab.lib.colors import HexColor
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFArray, PDFCatalog, PDFDictionary, PDFDocument, PDFName, PDFStream, PDFString
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus.tables import CellStyle
from xhtml2pdf import default as xhtml2pdf_default
from xhtml2pdf import pisa, xhtml2pdf_reportlab
from xhtml2pdf.builders.printmarks import MarkedCanvas
from xhtml2pdf.config.resources import ResourceAccessPolicy
from xhtml2pdf.context import pisaContext
from xhtml2pdf.parser import DEFAULT_CSS_SOURCE

from billing import formats
from billing.einvoice import einvoice_embed
from billing.einvoice.embed import srgb_profile
from billing.einvoice.seller import Seller, seller
from billing.formats import SUMMARY_LABELS, money_format
from billing.models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus
from billing.selectors.usage_breakdown import mci_usage_breakdown
from core import pdf_layout  # noqa: F401 (pdf_layout installs its layout cuts on import)
from core.company import brazil_tax_id_display

# The Monthly Summary of a Month Closing Invoice: the seed's labels, in the seed's order.
STAMPS = {InvoiceStatus.PAID: gettext_noop("PAID"), InvoiceStatus.VOID: gettext_noop("VOID")}


# "Page X of Y" drawn on the canvas (see PageTotalCanvas): where templates/pdf/invoice.html's footer frame puts
# its right-hand cell's first line (A4, 1.7 cm right margin, footer frame 0.9 cm + 1.1 cm from the bottom).
FOOTER_RIGHT_X = 595.2756 - 48.189  # points
FOOTER_BASELINE_Y = 48.75
# The templates' one family (font-family: dejavusans), registered with ReportLab once per process (invoice_fonts).
FONT_FAMILY = "dejavusans"
FONT_REGULAR, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"
FONT_FILES = {FONT_REGULAR: "DejaVuSans.ttf", FONT_BOLD: "DejaVuSans-Bold.ttf"}
FOOTER_FONT = FONT_REGULAR
FOOTER_FONT_SIZE = 7
FOOTER_COLOR = HexColor("#616e7c")
PAGE_TOTAL_FORM = "invoicePageTotal"
# The footer's page label of the render under way, set by invoice_pdf_render for the canvas to draw.
_page_label: ContextVar[tuple[str, str] | None] = ContextVar("invoice_page_label", default=None)
# Set while an invoice or credit note renders (xhtml_pdf): the canvas writes the PDF/A output intent.
_pdfa_render: ContextVar[bool] = ContextVar("invoice_pdfa_render", default=False)


class PageTotalCanvas(MarkedCanvas):
    """Page X of Y in ONE layout pass. xhtml2pdf's <pdf:pagecount> lays the whole document out twice (multiBuild)
    to learn the total, which was a third of an invoice's render time. Here each page draws "Page X of " and a
    reference to a form XObject; the form (the total) is written once when the document is saved, when the
    total is known (PDF allows the forward reference). Only while an invoice render has set its page label;
    any other xhtml2pdf document renders as before."""

    def showPage(self):
        if labels := _page_label.get():
            before, after = labels
            page = self.getPageNumber()
            text = before % {"page": page}
            digits = stringWidth(str(page), FOOTER_FONT, FOOTER_FONT_SIZE)  # the total has as many digits, mostly
            tail = stringWidth(after, FOOTER_FONT, FOOTER_FONT_SIZE)
            x = FOOTER_RIGHT_X - tail - digits - stringWidth(text, FOOTER_FONT, FOOTER_FONT_SIZE)
            self.saveState()
            self.setFont(FOOTER_FONT, FOOTER_FONT_SIZE)
            self.setFillColor(FOOTER_COLOR)
            self.drawString(x, FOOTER_BASELINE_Y, text)
            self.saveState()
            self.translate(x + stringWidth(text, FOOTER_FONT, FOOTER_FONT_SIZE), FOOTER_BASELINE_Y)
            self.doForm(PAGE_TOTAL_FORM)
            self.restoreState()
            if after:
                self.drawRightString(FOOTER_RIGHT_X, FOOTER_BASELINE_Y, after)
            self.restoreState()
        super().showPage()

    def save(self):
        if _page_label.get():
            total = self.getPageNumber() - 1  # showPage has moved on to the page after the last one
            self.beginForm(PAGE_TOTAL_FORM, lowerx=0, lowery=-3, upperx=60, uppery=10)
            self.setFont(FOOTER_FONT, FOOTER_FONT_SIZE)
            self.setFillColor(FOOTER_COLOR)
            self.drawString(0, 0, str(total))
            self.endForm()
        if _pdfa_render.get():
            _write_output_intent(self._doc)
        super().save()


def _write_output_intent(doc: PDFDocument) -> None:
    """The sRGB output intent PDF/A requires of a document drawn in DeviceRGB, written by ReportLab with the rest
    of the document: adding it afterwards (billing/einvoice/embed.py does for a PDF without one) parses and writes
    the whole file once more with pypdf. ReportLab's catalog writes only the keys it lists, hence the instance's
    own list."""
    profile = PDFStream(PDFDictionary({"N": 3}), content=srgb_profile())
    condition = "sRGB IEC61966-2.1"
    intent = PDFDictionary(
        {
            "Type": PDFName("OutputIntent"), "S": PDFName("GTS_PDFA1"),
            "OutputConditionIdentifier": PDFString(condition), "Info": PDFString(condition),
            "DestOutputProfile": doc.Reference(profile),
        }
    )  # fmt: skip
    doc.Catalog.__NoDefault__ = [*PDFCatalog.__NoDefault__, "OutputIntents"]
    doc.Catalog.OutputIntents = PDFArray([doc.Reference(intent)])


@functools.cache
def invoice_fonts() -> str:
    """Register DejaVu Sans (regular and bold) with ReportLab once per process and make it the font of everything
    in an xhtml2pdf document that does not name one; return the templates' family name.

    Parsing a TTF file is ~7 ms, and an @font-face rule made xhtml2pdf read and hash both files on every render.
    PDF/A forbids fonts that are not embedded, and ReportLab and xhtml2pdf reach for the base-14 Helvetica
    wherever nobody named a font: the canvas' initial font (rl_config.canvas_basefontname), a table cell's
    style (CellStyle.fontname), xhtml2pdf's default stylesheet (html { font-family: Helvetica }) and its fallback
    for an unknown family ("helvetica"). All of them are pointed at the embedded face here, for every
    ReportLab document of the process: the invoice and credit note PDFs are the only ones, and both are PDF/A."""
    for name, file in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(font_dir() / file)))
    for bold, name in ((0, FONT_REGULAR), (1, FONT_BOLD)):
        for italic in (0, 1):  # no oblique face is shipped: italics stay upright rather than fall back to Helvetica
            addMapping(FONT_FAMILY, bold, italic, name)
    rl_config.canvas_basefontname = FONT_REGULAR
    CellStyle.fontname = FONT_REGULAR
    fonts = xhtml2pdf_default.DEFAULT_FONT  # copied by each xhtml2pdf context: the family names CSS can use
    for family, face in list(fonts.items()):
        if face.startswith("Helvetica"):
            fonts[family] = FONT_BOLD if "Bold" in face else FONT_REGULAR
    fonts[FONT_FAMILY] = FONT_REGULAR
    return FONT_FAMILY


# xhtml2pdf makes its documents' canvas from this name (PmlBaseDoc._makeCanvas) and has no argument for it; the
# subclass behaves exactly like MarkedCanvas outside an invoice render (no page label set).
xhtml2pdf_reportlab.MarkedCanvas = PageTotalCanvas


INVOICE_CSS = "pdf/invoice.css"  # under templates/: the invoice's styles without its @page rule


@functools.cache
def invoice_default_css() -> str:
    """xhtml2pdf's default stylesheet followed by the invoice's (templates/pdf/invoice.css), read once per process.
    Given to xhtml2pdf as its default CSS, so that it is parsed once per process too (_parse_css_once); the
    template's own <style> keeps only the @page rule, whose frames xhtml2pdf builds while parsing it."""
    css = (Path(settings.BASE_DIR) / "templates" / INVOICE_CSS).read_text(encoding="utf-8")
    return f"{xhtml2pdf_default.DEFAULT_CSS}\n{css}"


_parse_css_source = pisaContext._parseCSSSource
_parsed_default_css: dict[str, object] = {}


def _parse_css_once(context: pisaContext, text: str, source_name: str | None):
    """xhtml2pdf parses its default stylesheet again for every document (~4 ms, ~8 ms with the invoice's rules).
    The parsed rules of a default stylesheet are kept per text: they are read-only once parsed (the cascade
    only builds a lookup index on them), carry no @page or @font-face and so leave nothing on the document's
    context. A document's own <style> (with its @page frames) is still parsed per document."""
    if source_name != DEFAULT_CSS_SOURCE:
        return _parse_css_source(context, text, source_name)
    if text not in _parsed_default_css:
        _parsed_default_css[text] = _parse_css_source(context, text, source_name)
    return _parsed_default_css[text]


pisaContext._parseCSSSource = _parse_css_once


def page_labels() -> tuple[str, str]:
    """The footer's "Page X of Y" in the active language, split around the total: ("Page %(page)s of ", "").
    The catalogs' existing entry (the template's former <pdf:pagecount> footer) is reused."""
    label = gettext("Page <pdf:pagenumber> of <pdf:pagecount>")
    before, _, after = label.partition("<pdf:pagecount>")
    return before.replace("%", "%%").replace("<pdf:pagenumber>", "%(page)s"), after


class InvoicePdfError(Exception):
    """The invoice has no PDF (it is a draft), or xhtml2pdf could not render it."""


def font_dir() -> Path:
    return Path(settings.BASE_DIR) / "static" / "fonts"


def date_format(day: dt.date | dt.datetime | None) -> str:
    """'1 Oct 2026' (en), '1. Oktober 2026' (de); a moment is shown as its UTC date (billing runs on UTC)."""
    return formats.day(day, tz=dt.UTC)


def quantity_format(quantity: Decimal) -> str:
    """1.0000 → '1', 2.5000 → '2.5', 1200 → '1,200' (en)."""
    return formats.number(quantity)


def pdf_link_callback(uri: str, rel: str | None = None) -> str:
    """The local file a template's url() names. Only files under static/fonts are allowed: an invoice render
    never reads anything else and never touches the network."""
    path = Path(uri.removeprefix("file://"))
    if not path.is_absolute():
        path = font_dir() / path
    path = path.resolve()
    if not path.is_relative_to(font_dir().resolve()) or not path.is_file():
        raise InvoicePdfError(f"Invoice PDF asset {uri!r} is not a file under {font_dir()}.")
    return str(path)


def _provider() -> Seller:
    """The seller as the e-invoice names it (billing/einvoice/seller.py): one source for both."""
    return seller()


def _company(snapshot: dict) -> dict:
    country = snapshot.get("country", "")
    town = " ".join(part for part in (snapshot.get("postal_code", ""), snapshot.get("city", "")) if part)
    if snapshot.get("state"):  # Brazil: "São Paulo – SP"
        town = f"{town} – {snapshot['state']}" if town else snapshot["state"]
    return {
        "name": snapshot.get("company_name", ""),
        "address_lines": [
            line for line in (snapshot.get("address_line1"), snapshot.get("address_line2"), town) if line
        ],
        "country": formats.country_name(country),
        "vat_id": snapshot.get("vat_id", ""),
        "tax_id": brazil_tax_id_display(snapshot["tax_id"]) if snapshot.get("tax_id") else "",
        "email": snapshot.get("billing_email", ""),
    }


def _line_rows(lines: list[InvoiceLine], currency: str) -> list[dict]:
    return [
        {
            "description": line.description,
            "quantity": quantity_format(line.quantity),
            "unit_amount": money_format(line.unit_amount, currency),
            "amount": money_format(line.amount, currency),
        }
        for line in lines
    ]


def _tax_row(invoice: Invoice, lines: list[InvoiceLine]) -> dict | None:
    """The VAT row of the totals, for an invoice whose lines do not carry the tax themselves."""
    if invoice.tax_amount == 0 or any(line.role == InvoiceLine.Role.TAX for line in lines):
        return None
    label = gettext("VAT %(rate)s") % {"rate": formats.percent(invoice.tax_rate)}
    return {"label": label, "amount": money_format(invoice.tax_amount, invoice.currency)}


def _month_closing(invoice: Invoice) -> dict:
    summary = invoice.summary or {}
    rows = [
        (key, gettext(label), money_format(summary.get(key, "0"), invoice.currency)) for key, label in SUMMARY_LABELS
    ]
    usage = [
        {
            "waba_id": row.waba_id,
            "phone_number": row.phone_number,
            "category": row.category_label,
            "market": row.market_label,
            "messages": formats.number(row.messages),
            "cost": money_format(row.cost, invoice.currency),
        }
        for row in mci_usage_breakdown(invoice=invoice)
    ]
    return {"summary_rows": rows, "usage_rows": usage}


def invoice_pdf_context(invoice: Invoice) -> dict:
    lines = list(invoice.lines.order_by("position"))
    company = invoice.billed_company or {}
    is_mci = invoice.kind == InvoiceKind.MONTH_CLOSING
    context = {
        "provider": _provider(),
        "title": invoice.get_kind_display(),
        "number": invoice.number,
        "issue_date": date_format(invoice.issued_at),
        "due_date": date_format(invoice.due_date),
        "billing_period": f"{date_format(invoice.period_start)} – "
        f"{date_format(invoice.period_end - dt.timedelta(days=1))}",
        "status": invoice.get_status_display(),
        "stamp": STAMPS.get(invoice.status),
        "stamp_text": gettext(STAMPS[invoice.status]) if invoice.status in STAMPS else "",
        "paid_date": date_format(invoice.paid_at),
        "hub_id": (invoice.summary or {}).get("hub_id") or company.get("hub_id", ""),
        "company": _company(company),
        "lines": _line_rows(lines, invoice.currency),
        "tax_row": _tax_row(invoice, lines),
        "amount_payable": money_format(invoice.total, invoice.currency),
        "tax_note": invoice.tax_note,
        "charged_automatically": invoice.pays_by_card
        and invoice.total > 0
        and invoice.status in (InvoiceStatus.PENDING, InvoiceStatus.UNPAID),
        "is_mci": is_mci,
        "pays_by_card": invoice.pays_by_card,
        "amount_payable_due": invoice.total > 0,
    }
    if is_mci:
        context.update(_month_closing(invoice))
    return context


def invoice_pdf_render(*, invoice: Invoice) -> bytes:
    """The invoice as an A4 PDF. Raises InvoicePdfError for a draft or when xhtml2pdf reports errors."""
    if invoice.number is None or invoice.status == InvoiceStatus.DRAFT:
        raise InvoicePdfError(f"Invoice {invoice.pk} is a draft: only an issued invoice has a PDF.")
    with translation.override(invoice.language):
        html = render_to_string("pdf/invoice.html", invoice_pdf_context(invoice))
        labels = page_labels()
    # The EN 16931 XML (Factur-X) goes inside the PDF it is rendered into, so every stored PDF is an e-invoice.
    return einvoice_embed(invoice_html_pdf(html=html, labels=labels, number=invoice.number), invoice=invoice)


def invoice_html_pdf(*, html: str, labels: tuple[str, str], number: str) -> bytes:
    """The rendered invoice template as a PDF, in one layout pass, "Page X of Y" drawn with `labels`
    (page_labels() in the invoice's language)."""
    token = _page_label.set(labels)
    try:
        return xhtml_pdf(html=html, number=number, default_css=invoice_default_css())
    finally:
        _page_label.reset(token)


def xhtml_pdf(*, html: str, number: str, default_css: str | None = None) -> bytes:
    """An invoice's or credit note's HTML as a PDF by xhtml2pdf: its fonts embedded and its sRGB output intent
    written (PDF/A-3, with the XML added by billing.einvoice). Raises InvoicePdfError when xhtml2pdf reports
    errors.

    The cyclic garbage collector is paused while xhtml2pdf runs: a render allocates some hundred thousand objects
    (DOM nodes, fragments, paragraphs, styles), which set off collections of the whole heap, Django's included, a
    tenth of a 50-row MCI's render time. What the render leaves behind in cycles is collected after it, as usual.
    The switch is the process's: renders in two threads at once only shorten each other's pause (the one that
    found the collector on turns it back on), and it is never left off."""
    invoice_fonts()
    output = BytesIO()
    # Local reads confined to the fonts, no network: the template is ours, but the billed company's name is not.
    policy = ResourceAccessPolicy(base_dir=font_dir(), allow_remote=False)
    token = _pdfa_render.set(True)
    collecting = gc.isenabled()
    gc.disable()  # see below
    try:
        result = pisa.CreatePDF(
            html, dest=output, encoding="utf-8", link_callback=pdf_link_callback, resource_policy=policy,
            default_css=default_css,
        )  # fmt: skip
    finally:
        if collecting:
            gc.enable()
        _pdfa_render.reset(token)
    if result.err:
        problems = "; ".join(str(entry[2]) for entry in result.log if entry[0] == "error") or "see the xhtml2pdf log"
        raise InvoicePdfError(f"xhtml2pdf reported {result.err} error(s) rendering {number}: {problems}")
    return output.getvalue()


def invoice_pdf_store(*, invoice: Invoice) -> bytes:
    """Render the invoice and keep the file on it (replacing any earlier one); return the PDF.
    Only the pdf column is written: it may change after issue."""
    data = invoice_pdf_render(invoice=invoice)
    invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(data), save=False)
    Invoice.objects.filter(pk=invoice.pk).update(pdf=invoice.pdf.name)
    return data


def invoice_pdf_bytes(*, invoice: Invoice) -> bytes:
    """The issued invoice's PDF: the stored file, else rendered now and stored, so every later download and the
    email carry the same document. The one way pages, API, email and commands get an invoice's PDF.

    Raises InvoicePdfError for a draft. A stored file that has gone missing is rendered again. When two requests
    render at once, the first to store wins and both return its file (the loser's render is discarded)."""
    if invoice.number is None or invoice.status == InvoiceStatus.DRAFT:
        raise InvoicePdfError(f"Invoice {invoice.pk} is a draft: only an issued invoice has a PDF.")
    if stored := _stored_pdf(invoice):
        return stored
    data = invoice_pdf_render(invoice=invoice)
    seen = invoice.pdf.name or ""
    invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(data), save=False)
    if Invoice.objects.filter(pk=invoice.pk, pdf=seen).update(pdf=invoice.pdf.name):
        return data
    invoice.pdf.delete(save=False)  # another request stored its rendering first: serve that one
    invoice.refresh_from_db(fields=["pdf"])
    return _stored_pdf(invoice) or data


def _stored_pdf(invoice: Invoice) -> bytes | None:
    if not invoice.pdf:
        return None
    try:
        with invoice.pdf.open("rb") as stored:
            return stored.read()
    except FileNotFoundError:
        return None

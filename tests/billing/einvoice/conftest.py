"""A world of invoices issued by the real services, of every kind, for a buyer of each tax case, and helpers that
read an e-invoice back (lxml) and check it with the publisher's validator (billing/einvoice/validation.py)."""

import datetime as dt
import io
import struct
from decimal import Decimal

import pytest
from djmoney.money import Money
from lxml import etree
from pypdf import PdfReader
from pypdf.generic import DictionaryObject, IndirectObject

from billing.einvoice.validation import einvoice_check
from billing.invoicing.licenses import license_issue, new_numbers_issue
from billing.invoicing.month_close import month_close
from billing.invoicing.partner_plans import partner_plan_issue
from billing.invoicing.prepayments import topup_issue
from billing.ledger import ledger_post
from billing.models import EntryKind, PaymentMethod, PaymentMethodKind, RateCardRate
from billing.usage.ingest import usage_record_batch
from hub.models import LicenseTier
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
ISSUED_AT = dt.datetime(2026, 11, 1, 0, 10, tzinfo=dt.UTC)
RATE = Decimal("0.123457")
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
# (country, VAT ID) of each tax case the portal applies
TAX_CASES = {
    "S-DE": ("DE", "DE811907980"),
    "S-EU-no-VAT-ID": ("FR", ""),
    "AE": ("FR", "FR40303265045"),
    "O": ("US", "12-3456789"),
}
PDFAID = "http://www.aiim.org/pdfa/ns/id/"
ICC_SIGNATURE = b"acsp"  # ICC.1 profile header, bytes 36-39
FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")
SYMBOLIC = 1 << 2  # FontDescriptor /Flags bit 3
KINDS = ("LICENSE", "LICENSE_NEW_NUMBERS", "PREPAYMENT", "MONTH_CLOSING", "PARTNER_PLAN")


class Xml:
    """An e-invoice read back."""

    def __init__(self, data: bytes):
        self.data = data
        self.root = etree.fromstring(data)

    def all(self, path: str) -> list[str]:
        nodes = self.root.xpath(path, namespaces=NS)
        return [node.text if isinstance(node, etree._Element) else str(node) for node in nodes]

    def one(self, path: str) -> str:
        (value,) = self.all(path)
        return value

    def amount(self, name: str) -> Decimal:
        return Decimal(self.one(f"//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:{name}"))


def assert_valid(xml: bytes) -> None:
    """XSD and EN 16931 schematron: no fatal failure (einvoice_check raises with every fatal rule's text)."""
    einvoice_check(xml)


def pdf_text(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def pdfa3_problems(data: bytes) -> list[str]:
    """What keeps `data` from being a Factur-X PDF/A-3B, checked structurally (veraPDF, the reference validator,
    needs Maven Central, which this machine cannot reach): the ISO 19005-3 clauses our PDFs could break. Every
    font embedded (6.2.11.4) with a TrueType encoding and cmap PDF/A allows (6.2.11.6); XMP metadata naming part 3
    conformance B (6.6.2.1, 6.6.4); an output intent with an ICC profile (6.2.3); the factur-x.xml
    attachment with its AFRelationship and listed in the catalog's /AF (6.8, Factur-X 1.0 section 6); no
    encryption (6.1.3) and a file identifier (6.1.3). An empty list is a pass."""
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        return ["the file is encrypted"]
    problems = _font_problems(reader)
    file_id = reader.trailer.get("/ID")
    if not file_id or len(file_id) != 2:
        problems.append("the trailer has no /ID")
    root = reader.trailer["/Root"]
    problems += _xmp_problems(root) + _output_intent_problems(root) + _attachment_problems(root)
    return problems


def _fonts(resources, seen: set) -> list:
    """Every font a resource dictionary reaches, through form XObjects too (the "Page X of Y" total is one)."""
    resources = resources.get_object() if resources is not None else DictionaryObject()
    fonts = [font.get_object() for font in resources.get("/Font", DictionaryObject()).get_object().values()]
    for xobject in resources.get("/XObject", DictionaryObject()).get_object().values():
        key = xobject.idnum if isinstance(xobject, IndirectObject) else id(xobject)
        if key not in seen and xobject.get_object().get("/Subtype") == "/Form":
            seen.add(key)
            fonts += _fonts(xobject.get_object().get("/Resources"), seen)
    return fonts


def _font_problems(reader: PdfReader) -> list[str]:
    problems, seen = [], set()
    for number, page in enumerate(reader.pages, start=1):
        for font in _fonts(page.get("/Resources"), seen):
            name = font.get("/BaseFont")
            program = font["/DescendantFonts"][0].get_object() if font.get("/Subtype") == "/Type0" else font
            descriptor = program.get("/FontDescriptor")
            if descriptor is None or not any(key in descriptor.get_object() for key in FONT_FILES):
                problems.append(f"page {number}: font {name} is not embedded")
                continue
            if font.get("/Subtype") != "/TrueType":
                continue
            symbolic = descriptor.get_object().get("/Flags", 0) & SYMBOLIC
            encoding = font.get("/Encoding")
            if symbolic and encoding is not None:
                problems.append(f"page {number}: symbolic TrueType font {name} has an /Encoding")
            program = descriptor.get_object().get("/FontFile2")
            if symbolic and program is not None and _cmap_encodings(program.get_object().get_data()) != 1:
                problems.append(f"page {number}: symbolic TrueType font {name} has several cmap encodings")
            if not symbolic and encoding not in ("/WinAnsiEncoding", "/MacRomanEncoding"):
                problems.append(f"page {number}: TrueType font {name} has encoding {encoding}")
    return sorted(set(problems))


def _cmap_encodings(sfnt: bytes) -> int:
    """How many encoding subtables the TrueType program's 'cmap' table has (0 without one): a symbolic font
    needs exactly one, or the (3,0) one, ISO 19005-3 6.2.11.6."""
    (tables,) = struct.unpack(">H", sfnt[4:6])
    for record in range(12, 12 + 16 * tables, 16):
        tag, _, offset, _ = struct.unpack(">4sIII", sfnt[record : record + 16])
        if tag == b"cmap":
            return struct.unpack(">HH", sfnt[offset : offset + 4])[1]
    return 0


def _xmp_problems(root) -> list[str]:
    stream = root.get("/Metadata")
    if stream is None:
        return ["the catalog has no XMP /Metadata"]
    stream = stream.get_object()
    problems = []
    if (stream.get("/Type"), stream.get("/Subtype")) != ("/Metadata", "/XML"):
        problems.append("the catalog's /Metadata is not a /Metadata /XML stream")
    xmp = etree.fromstring(stream.get_data())
    for field, expected in (("part", "3"), ("conformance", "B")):
        values = xmp.xpath(f"//pdfaid:{field}/text() | //@pdfaid:{field}", namespaces={"pdfaid": PDFAID})
        if [str(value).strip() for value in values] != [expected]:
            problems.append(f"XMP pdfaid:{field} is {values}, not {expected!r}")
    return problems


def _output_intent_problems(root) -> list[str]:
    for intent in root.get("/OutputIntents", []):
        intent = intent.get_object()
        profile = intent.get("/DestOutputProfile")
        if intent.get("/S") == "/GTS_PDFA1" and profile is not None:
            icc = profile.get_object().get_data()
            if icc[36:40] == ICC_SIGNATURE and profile.get_object().get("/N") == 3:
                return []
            return ["the PDF/A output intent's profile is not a 3-component ICC profile"]
    return ["no /GTS_PDFA1 output intent with an ICC profile"]


def _attachment_problems(root) -> list[str]:
    empty = DictionaryObject()
    names = root.get("/Names", empty).get_object().get("/EmbeddedFiles", empty).get_object().get("/Names", [])
    specs = {str(names[i]): names[i + 1] for i in range(0, len(names), 2)}
    spec = specs.get("factur-x.xml")
    if spec is None:
        return ["no embedded factur-x.xml"]
    problems = []
    if "/F" not in spec.get_object() or "/UF" not in spec.get_object():
        problems.append("factur-x.xml's file specification lacks /F or /UF")
    if spec.get_object().get("/AFRelationship") not in ("/Data", "/Alternative", "/Source"):
        problems.append("factur-x.xml has no AFRelationship Data, Alternative or Source")
    listed = [entry.idnum for entry in root.get("/AF", []) if isinstance(entry, IndirectObject)]
    if not isinstance(spec, IndirectObject) or spec.idnum not in listed:
        problems.append("factur-x.xml is not listed in the catalog's /AF")
    embedded = spec.get_object()["/EF"]["/F"].get_object()
    if embedded.get("/Subtype") != "/text#2Fxml" and embedded.get("/Subtype") != "/text/xml":
        problems.append(f"factur-x.xml has MIME type {embedded.get('/Subtype')}, not text/xml")
    return problems


@pytest.fixture(autouse=True)
def now(time_machine):
    time_machine.move_to(ISSUED_AT, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def rate_card():
    RateCardRate.objects.create(
        effective_date=dt.date(2026, 1, 1), currency="EUR", market="DE", category="marketing", rate=RATE
    )


def buyer(case: str, *, card: bool = True, **fields):
    country, vat_id = TAX_CASES[case]
    client = ClientFactory(
        company_name="Bäckerei Müller & Söhne GmbH", country=country, vat_id=vat_id, address_line1="Hauptstraße 5",
        postal_code="80331", city="München", partner=PartnerFactory(currency="EUR"), **fields,
    )  # fmt: skip
    if card:
        PaymentMethod.objects.create(client=client, kind=PaymentMethodKind.CARD, position=0, brand="visa", last4="4242")
    return client


def licensed_hub(client):
    waba = WabaFactory(hub=HubFactory(client=client))
    PhoneNumberFactory(waba=waba, tier=LicenseTier.objects.get(code="regular"))
    PhoneNumberFactory(waba=waba, tier=LicenseTier.objects.get(code="premium"))
    return waba


def usage(waba, count: int, sent_at: dt.datetime, prefix: str) -> None:
    number = waba.numbers.order_by("e164").first()
    result = usage_record_batch(
        events=[
            {
                "message_id": f"wamid.{prefix}.{n}", "waba_id": waba.meta_waba_id, "phone_number": number.e164,
                "recipient_country": "DE", "category": "marketing", "billable": True,
                "timestamp": sent_at.isoformat(),
            }  # fmt: skip
            for n in range(count)
        ]
    )
    assert (result.accepted, result.rejected) == (count, [])


def issue_kind(kind: str, case: str, time_machine, **client_fields):
    """One invoice of `kind` to a card-paying buyer of tax case `case`, issued by the service that issues it."""
    if kind == "PARTNER_PLAN":
        country, vat_id = TAX_CASES[case]
        partner = PartnerFactory(country=country, vat_id=vat_id, currency="EUR", company_name="Revenda Ltda")
        PaymentMethod.objects.create(partner=partner, kind=PaymentMethodKind.CARD, position=0)
        (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=NOV, issued_at=ISSUED_AT)
        return invoice
    waba = licensed_hub(buyer(case, **client_fields))
    hub = waba.hub
    if kind == "LICENSE":
        (invoice,) = license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)
    elif kind == "LICENSE_NEW_NUMBERS":
        onboarded = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)
        time_machine.move_to(onboarded, tick=False)
        PhoneNumberFactory(waba=waba, onboarded_at=onboarded)
        license_issue(hub_ids=[hub.id], month=NOV, issued_at=ISSUED_AT)
        (invoice,) = new_numbers_issue(day=onboarded.date(), issued_at=onboarded, hub_ids=[hub.id])
    elif kind == "PREPAYMENT":
        invoice = topup_issue(hub=hub, amount=Decimal("250.00"), request_key="topup-1", issued_at=ISSUED_AT)
    else:
        invoice = mci_of(hub, waba, time_machine)
    return invoice


def mci_of(hub, waba, time_machine):
    """October: 5.00 funds, 100 marketing messages (12.35), a reconciliation of −0.40: E = −7.75, so D = 7.75;
    lines 12.35, 0.40, −5.00; closed on 1 November."""
    time_machine.move_to(dt.datetime(2026, 10, 31, 12, tzinfo=dt.UTC), tick=False)
    ledger_post(account=hub.credit_account, kind=EntryKind.FUNDS_ADDED, amount=Money("5.00", "EUR"), key="funds:1",
                occurred_at=dt.datetime(2026, 10, 2, 8, tzinfo=dt.UTC))  # fmt: skip
    usage(waba, 100, dt.datetime(2026, 10, 3, 12, tzinfo=dt.UTC), "oct")
    ledger_post(account=hub.credit_account, kind=EntryKind.RECONCILIATION, amount=Money("-0.40", "EUR"),
                key="reconciliation:1", occurred_at=dt.datetime(2026, 10, 25, 3, tzinfo=dt.UTC))  # fmt: skip
    time_machine.move_to(ISSUED_AT, tick=False)
    (invoice,) = month_close(hub_ids=[hub.id], period=OCT, issued_at=ISSUED_AT)
    return invoice

"""manage.py invoice_pdf (the PDF/A-3 with its XML) and invoice_xml (the XML alone, either syntax)."""

import io

import pytest
from django.core.management import CommandError, call_command
from facturx import get_xml_from_pdf
from pypdf import PdfReader

from tests.billing.einvoice.conftest import Xml, assert_valid, issue_kind

pytestmark = pytest.mark.django_db


def test_invoice_pdf_writes_a_pdf_a3_with_the_factur_x_xml_and_its_xmp(now, tmp_path):
    invoice = issue_kind("MONTH_CLOSING", "AE", now)
    output = tmp_path / "mci.pdf"

    call_command("invoice_pdf", invoice.number, output=str(output), stdout=io.StringIO())

    data = output.read_bytes()
    filename, xml = get_xml_from_pdf(data)
    assert filename == "factur-x.xml"
    assert_valid(xml)
    reader = PdfReader(io.BytesIO(data))
    xmp = reader.xmp_metadata.stream.get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert reader.trailer["/Root"]["/OutputIntents"][0]["/S"] == "/GTS_PDFA1"
    assert reader.trailer["/Root"]["/AF"][0]["/AFRelationship"] == "/Data"


def test_invoice_xml_writes_either_syntax_and_refuses_xrechnung_without_a_leitweg_id(now, tmp_path):
    invoice = issue_kind("LICENSE", "O", now)
    output = tmp_path / "invoice.xml"
    out = io.StringIO()

    call_command("invoice_xml", invoice.number, output=str(output), stdout=out)
    with pytest.raises(CommandError) as refused:
        call_command("invoice_xml", invoice.number, output=str(tmp_path / "x.xml"), syntax="xrechnung")

    xml = Xml(output.read_bytes())
    assert_valid(xml.data)
    assert xml.one("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:ExemptionReasonCode") == (
        "VATEX-EU-O"
    )
    assert xml.all("//ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == []  # BR-O-02
    assert out.getvalue().startswith(f"Wrote {invoice.number} as factur-x (")
    assert str(refused.value) == (
        f"{invoice.number}: XRechnung needs the buyer reference (Leitweg-ID) in the client's billing details."
    )
    assert not (tmp_path / "x.xml").exists()


def test_invoice_xml_refuses_an_unknown_number(tmp_path):
    with pytest.raises(CommandError, match="^No invoice or credit note numbered CN-2026-999999.$"):
        call_command("invoice_xml", "CN-2026-999999", output=str(tmp_path / "x.xml"))


def test_einvoice_check_passes_a_pdf_and_names_the_rule_a_tampered_xml_breaks(now, tmp_path):
    invoice = issue_kind("PREPAYMENT", "S-DE", now)
    call_command("invoice_pdf", invoice.number, output=str(tmp_path / "p.pdf"), stdout=io.StringIO())
    call_command("invoice_xml", invoice.number, output=str(tmp_path / "p.xml"), stdout=io.StringIO())
    xml = (tmp_path / "p.xml").read_text()
    due = f"<ram:DuePayableAmount>{invoice.total}</ram:DuePayableAmount>"
    assert due == "<ram:DuePayableAmount>309.40</ram:DuePayableAmount>"  # 250.00 + 4 % fee, 19 % VAT
    (tmp_path / "bad.xml").write_text(xml.replace(due, "<ram:DuePayableAmount>309.39</ram:DuePayableAmount>"))
    out = io.StringIO()

    call_command("einvoice_check", str(tmp_path / "p.pdf"), stdout=out)
    with pytest.raises(CommandError) as refused:
        call_command("einvoice_check", str(tmp_path / "bad.xml"))

    assert out.getvalue().endswith(f"{tmp_path / 'p.pdf'}: valid EN 16931 (no fatal rule broken, 1 warning(s)).\n")
    assert "[BR-CO-16]" in str(refused.value)

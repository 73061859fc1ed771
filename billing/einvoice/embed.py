"""The readable PDF (xhtml2pdf's) made a Factur-X PDF/A-3: the EN 16931 XML embedded as `factur-x.xml`
(AFRelationship Data) with the Factur-X XMP metadata, by the `factur-x` package; plus the sRGB output intent
PDF/A requires of a document with device colours (ReportLab writes DeviceRGB), from littlecms's built-in sRGB
profile through Pillow. billing/pdf.py writes that intent as it renders; a PDF without one gets it here."""

import io
from functools import cache

from django.conf import settings
from facturx import generate_from_binary
from PIL import ImageCms
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from billing.einvoice.document import EDocument

PDF_LANGUAGE = {"en": "en-GB", "de": "de-DE", "pt": "pt-BR", "es": "es-ES", "fr": "fr-FR"}


@cache
def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _with_output_intent(pdf: bytes) -> bytes:
    reader = PdfReader(io.BytesIO(pdf))  # reads the cross-reference table and the catalog, not the pages
    if "/OutputIntents" in reader.trailer["/Root"]:
        return pdf
    writer = PdfWriter(clone_from=reader)
    profile = DecodedStreamObject()
    profile.set_data(srgb_profile())
    profile[NameObject("/N")] = NumberObject(3)
    intent = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/OutputIntent"),
            NameObject("/S"): NameObject("/GTS_PDFA1"),
            NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
            NameObject("/Info"): TextStringObject("sRGB IEC61966-2.1"),
            NameObject("/DestOutputProfile"): writer._add_object(profile),
        }
    )
    writer._root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def pdf_with_xml(pdf: bytes, *, xml: bytes, document: EDocument, language: str) -> bytes:
    """`pdf` with `xml` inside, as Factur-X EN 16931. `xml` is cii_xml's, which drafthorse has checked against the
    same Factur-X EN 16931 XSD as it serialised it: the package's own XSD check (a schema compiled per call) is
    not run a second time."""
    metadata = {
        "author": document.seller.name,
        "keywords": "Factur-X, ZUGFeRD, EN 16931",
        "title": f"{document.seller.name}: {document.texts.document_name} {document.number}",
        "subject": f"{document.texts.document_name} {document.number} {document.issue_date:%Y-%m-%d}",
    }
    embedded = generate_from_binary(
        _with_output_intent(pdf), xml, flavor="factur-x", level="en16931", check_xsd=False,
        pdf_metadata=metadata, lang=PDF_LANGUAGE.get(language, settings.LANGUAGE_CODE),
    )  # fmt: skip
    return embedded

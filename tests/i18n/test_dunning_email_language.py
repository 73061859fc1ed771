"""Payment reminders are written in the invoice's language, like the invoice itself."""

import pytest
from django.core import mail

from billing.payments.charging import payment_failed_notify
from tests.billing.payments.conftest import plan_invoice
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def test_a_failed_payment_email_to_a_spanish_partner_is_in_spanish():
    partner = PartnerFactory(company_name="Mensajes Madrid S.L.", country="ES", vat_id="ESB12345674",
                             invoice_language="es")  # fmt: skip
    invoice = plan_invoice(partner)
    mail.outbox.clear()

    payment_failed_notify(invoice_id=invoice.pk, round_name="automatic")

    (message,) = mail.outbox
    assert message.subject == f"Pago fallido: Factura del Plan de Partner {invoice.number}"
    assert message.body == (
        "Hola, Mensajes Madrid S.L.:\n\n"
        f"No hemos podido cobrar 500,00\xa0€ de Factura del Plan de Partner {invoice.number}:\n"
        "- El pago ha sido rechazado.\n\n"
        "Es necesario un pago manual. Los servicios se reanudan automáticamente en cuanto se recibe el pago.\n"
        "Páguela con «Pagar» en la sección Facturación del Partner Hub, o añada allí una tarjeta nueva: se le "
        "cargará en el acto.\n\nHub Portal GmbH\n"
    )

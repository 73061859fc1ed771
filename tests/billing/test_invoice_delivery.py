"""Invoice delivery cannot be lost: one task per invoice with retries, a sweep for what a lost task missed, each
invoice emailed once. The mail server is a real SMTP server (aiosmtpd) on loopback that Django's SMTP backend talks
to; the broker outage is a real one (a closed loopback port)."""

import asyncio
import datetime as dt
import io
import logging
import socket
import threading
from email import message_from_bytes
from email.message import Message

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.contrib.admin.sites import site
from django.test import RequestFactory
from pypdf import PdfReader

from billing.admin_invoicing import InvoiceAdmin
from billing.delivery import InvoiceDeliveryError, invoice_deliver
from billing.invoicing.partner_plans import partner_plan_issue
from billing.models import Invoice
from billing.tasks import invoices_delivery_sweep_task
from config.celery_app import app
from config.schedule import BEAT_SCHEDULE
from tests.factories import PartnerFactory, UserFactory

DEC = dt.date(2026, 12, 1)
DEC_1 = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An SMTP server's DATA handler: answers the first messages with the given refusals, then accepts and keeps
    every message it accepted (what the billing email's owner would find in their inbox)."""

    def __init__(self) -> None:
        self.refusals: list[str] = []
        self.received: list[Message] = []
        self.data_commands = 0
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.data_commands += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refusals:
            return self.refusals.pop(0)
        self.received.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 2.0.0 Message accepted for delivery"

    def subjects(self) -> list[str]:
        return sorted(str(message["Subject"]) for message in self.received)


@pytest.fixture
def worker_retries():
    """Tasks still run eagerly, but a task's retries run too (one after the other, without the back-off wait), as a
    worker would run them: config.settings.test makes an eager task raise its first failure instead."""
    saved = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_eager_propagates = saved


@pytest.fixture
def mailbox(settings, tmp_path, worker_retries):
    """A real SMTP server on a loopback port, and Django's SMTP EmailBackend pointed at it."""
    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    settings.MEDIA_ROOT = tmp_path
    try:
        yield handler
    finally:
        controller.stop()


def _fresh_broker_connections() -> None:
    """Forget pooled broker connections, so the next send connects to the broker URL configured now."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """The broker is unreachable: Celery sends for real (not eagerly) to a loopback port nothing listens on."""
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}
    app.conf.update(broker_url=f"redis://127.0.0.1:{free_port()}/0", task_always_eager=False,
                    broker_transport_options={})  # fmt: skip
    _fresh_broker_connections()
    try:
        yield
    finally:
        app.conf.update(saved)
        _fresh_broker_connections()


def plan_invoices_issue(count: int, django_capture_on_commit_callbacks) -> list[Invoice]:
    partners = [PartnerFactory(company_name=f"Partner {n} GmbH") for n in range(count)]
    with time_machine.travel(DEC_1, tick=False), django_capture_on_commit_callbacks(execute=True):
        invoices = partner_plan_issue(partner_ids=[p.id for p in partners], month=DEC, issued_at=DEC_1)
    return sorted(invoices, key=lambda invoice: invoice.number)


def subjects(invoices: list[Invoice]) -> list[str]:
    return sorted(f"Partner Plan Invoice {invoice.number} from Hub Portal GmbH" for invoice in invoices)


@pytest.mark.django_db
def test_a_refused_email_is_retried_alone_and_every_invoice_arrives_exactly_once(
    mailbox, django_capture_on_commit_callbacks
):
    # the mail server refuses the first invoice twice (temporarily, then permanently), then accepts everything
    mailbox.refusals = ["451 4.3.0 Mailbox temporarily unavailable", "554 5.7.1 Transaction failed"]

    invoices = plan_invoices_issue(3, django_capture_on_commit_callbacks)

    assert mailbox.data_commands == 5  # the first invoice three times (two refusals, then accepted), the others once
    assert mailbox.subjects() == subjects(invoices)
    for invoice in invoices:
        invoice.refresh_from_db()
        assert (invoice.delivered_at, invoice.delivery_error) == (DEC_1, "")
    (first,) = [m for m in mailbox.received if invoices[0].number in m["Subject"]]
    assert first["To"] == invoices[0].billed_company["billing_email"]
    (attachment,) = [part for part in first.walk() if part.get_content_type() == "application/pdf"]
    assert attachment.get_filename() == f"{invoices[0].number}.pdf"
    pdf_text = PdfReader(io.BytesIO(attachment.get_payload(decode=True))).pages[0].extract_text()
    assert invoices[0].number in pdf_text and "Partner 0 GmbH" in pdf_text

    # delivering again (a duplicate task, the sweep) sends nothing
    with time_machine.travel(DEC_1 + dt.timedelta(hours=1), tick=False):
        assert [invoice_deliver(invoice_id=invoice.id) for invoice in invoices] == [False, False, False]
        assert invoices_delivery_sweep_task() == 0
    assert len(mailbox.received) == 3


@pytest.mark.django_db
def test_an_invoice_refused_through_all_retries_is_shown_undelivered_and_the_sweep_delivers_it(
    mailbox, django_capture_on_commit_callbacks
):
    mailbox.refusals = ["451 4.3.0 Try again later"] * 6  # the first try and its five retries

    (invoice,) = plan_invoices_issue(1, django_capture_on_commit_callbacks)

    invoice.refresh_from_db()
    assert (invoice.delivered_at, mailbox.received) == (None, [])
    assert invoice.delivery_error == (
        "2026-12-01 00:05 UTC: SMTPDataError: (451, b'4.3.0 Try again later')"
    )
    assert mailbox.data_commands == 6
    assert _undelivered_in_admin() == [invoice.number]

    with time_machine.travel(DEC_1 + dt.timedelta(minutes=14), tick=False):
        assert invoices_delivery_sweep_task() == 0  # still inside the task's own retry window
    with time_machine.travel(DEC_1 + dt.timedelta(minutes=15, seconds=1), tick=False):
        assert invoices_delivery_sweep_task() == 1

    invoice.refresh_from_db()
    assert mailbox.subjects() == subjects([invoice])
    assert (invoice.delivered_at, invoice.delivery_error) == (DEC_1 + dt.timedelta(minutes=15, seconds=1), "")
    assert _undelivered_in_admin() == []


@pytest.mark.django_db
def test_with_the_broker_down_at_commit_the_invoices_are_issued_and_the_sweep_delivers_them(
    mailbox, broker_down, django_capture_on_commit_callbacks, caplog
):
    with caplog.at_level(logging.ERROR, logger="billing.queue"):
        invoices = plan_invoices_issue(2, django_capture_on_commit_callbacks)

    # issued (the transaction committed), but no one was told
    assert [invoice.number for invoice in invoices] == ["INV-2026-000001", "INV-2026-000002"]
    assert Invoice.objects.filter(delivered_at__isnull=True, number__isnull=False).count() == 2
    assert mailbox.data_commands == 0
    assert "could not queue billing.deliver_invoice for 2 of 2 ids" in caplog.text

    app.conf.task_always_eager = True  # the broker is back; the worker runs what beat's sweep queues
    with time_machine.travel(DEC_1 + dt.timedelta(minutes=15, seconds=1), tick=False):
        assert invoices_delivery_sweep_task() == 2

    assert mailbox.subjects() == subjects(invoices)
    assert Invoice.objects.filter(delivered_at__isnull=True).count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_the_same_invoice_at_once_send_it_once(mailbox, monkeypatch):
    import billing.invoicing.issue as issuing

    monkeypatch.setattr(issuing, "enqueue_each_on_commit", lambda task_name, ids: None)  # delivered by hand below
    partner = PartnerFactory()
    with time_machine.travel(DEC_1, tick=False):
        (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=DEC, issued_at=DEC_1)
    mailbox.delay = 0.5  # the first worker is still talking to the mail server when the second one starts
    results, errors = [], []

    def worker() -> None:
        from django.db import connection

        try:
            results.append(invoice_deliver(invoice_id=invoice.id))
        except Exception as error:  # noqa: BLE001 -- reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert (sorted(results), errors) == ([False, True], [])
    assert mailbox.subjects() == subjects([invoice])


@pytest.mark.django_db
def test_an_invoice_without_a_billing_email_is_refused_with_the_reason_and_stays_undelivered(mailbox):
    # the issue path always snapshots the (required) billing email: only an old row can lack it
    partner = PartnerFactory()
    draft = Invoice.objects.create(
        kind="PARTNER_PLAN", party_key=f"partner:{partner.pk}", partner=partner, period_key="2026-12",
        period_start=DEC, period_end=dt.date(2027, 1, 1), currency="EUR", net_amount=500, total=500,
        billed_company={"company_name": partner.company_name},
    )  # fmt: skip
    Invoice.objects.filter(pk=draft.pk).update(number="INV-2026-000001", status="pending", issued_at=DEC_1)

    with time_machine.travel(DEC_1, tick=False), pytest.raises(
        InvoiceDeliveryError, match="^Invoice INV-2026-000001 has no billing email to send it to.$"
    ):
        invoice_deliver(invoice_id=draft.pk)

    invoice = Invoice.objects.get(pk=draft.pk)
    assert invoice.delivered_at is None
    assert invoice.delivery_error == (
        "2026-12-01 00:05 UTC: InvoiceDeliveryError: Invoice INV-2026-000001 has no billing email to send it to."
    )
    assert mailbox.data_commands == 0


def test_beat_runs_the_delivery_sweep_every_fifteen_minutes():
    entry = BEAT_SCHEDULE["invoice-delivery-sweep"]
    assert entry["task"] == "billing.delivery_sweep"
    assert entry["schedule"].minute == {0, 15, 30, 45}


def _undelivered_in_admin() -> list[str]:
    """The Invoice admin's changelist filtered on "Delivered: No", as staff see it."""
    request = RequestFactory().get("/admin/billing/invoice/", {"delivered": "no"})
    request.user = UserFactory(is_staff=True, is_superuser=True)
    changelist = InvoiceAdmin(Invoice, site).get_changelist_instance(request)
    return [invoice.number for invoice in changelist.get_queryset(request)]

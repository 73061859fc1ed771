"""Invoice delivery (PDF + email) and the billing day's fan-out over Celery."""

import datetime as dt
import os

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.core import mail
from pypdf import PdfReader

from billing.invoicing import calendar, licenses
from billing.invoicing.partner_plans import partner_plan_issue
from billing.models import Invoice, InvoiceKind
from billing.tasks import billing_day_task
from config.celery_app import app
from tests.factories import ClientFactory, HubFactory, PartnerFactory, PhoneNumberFactory, WabaFactory

DEC_1 = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_an_issued_invoice_is_emailed_to_the_billing_email_with_its_pdf(
    django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    partner = PartnerFactory(company_name="Nordlicht Digital GmbH", billing_email="ap@nordlicht.example")

    with time_machine.travel(DEC_1, tick=False), django_capture_on_commit_callbacks(execute=True):
        (invoice,) = partner_plan_issue(partner_ids=[partner.id], month=dt.date(2026, 12, 1), issued_at=DEC_1)

    (message,) = mail.outbox
    assert message.to == ["ap@nordlicht.example"]
    assert message.subject == f"Partner Plan Invoice {invoice.number} from Hub Portal GmbH"
    assert "Amount: €595.00" in message.body  # billing.formats, in the invoice's language (en)
    ((filename, content, mimetype),) = message.attachments
    assert (filename, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
    import io

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert invoice.number in text and "Nordlicht Digital GmbH" in text
    invoice.refresh_from_db()
    assert invoice.delivered_at == DEC_1
    assert invoice.pdf.name.endswith(f"{invoice.number}.pdf")


@pytest.mark.django_db
def test_a_failing_chunk_leaves_no_half_issued_invoices_and_the_rerun_completes(monkeypatch):
    hubs = [HubFactory(client=ClientFactory()) for _ in range(3)]
    for hub in hubs:
        PhoneNumberFactory(waba=WabaFactory(hub=hub))
    monkeypatch.setattr(calendar, "CHUNK_SIZE", 2)
    real_mark = licenses._mark_licensed
    calls = []

    def dies_inside_the_second_chunk(*args):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("worker killed")  # after the chunk's invoices were written, before it commits
        return real_mark(*args)

    monkeypatch.setattr(licenses, "_mark_licensed", dies_inside_the_second_chunk)
    with time_machine.travel(DEC_1, tick=False), pytest.raises(RuntimeError, match="worker killed"):
        calendar.billing_run(day=DEC_1.date())

    assert Invoice.objects.filter(kind=InvoiceKind.LICENSE).count() == 2  # the first chunk only: hubs 1 and 2

    monkeypatch.setattr(licenses, "_mark_licensed", real_mark)
    with time_machine.travel(DEC_1, tick=False):
        calendar.billing_run(day=DEC_1.date())

    assert sorted(Invoice.objects.filter(kind=InvoiceKind.LICENSE).values_list("hub_id", flat=True)) == sorted(
        h.id for h in hubs
    )
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, len(numbers) + 1)]  # no gap from the failed chunk


@pytest.fixture
def redis_worker():
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}
    app.conf.update(broker_url=os.environ["REDIS_URL"], task_always_eager=False, broker_transport_options={})
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.update(saved)


@pytest.mark.postgres
@pytest.mark.celery_broker
@pytest.mark.django_db(transaction=True)
def test_the_billing_day_fans_out_one_task_per_chunk_through_a_real_broker(redis_worker, monkeypatch):
    monkeypatch.setattr(calendar, "CHUNK_SIZE", 2)
    partner = PartnerFactory()
    for _ in range(5):
        PhoneNumberFactory(waba=WabaFactory(hub=HubFactory(client=ClientFactory(partner=partner))))

    with time_machine.travel(DEC_1, tick=False):
        jobs = billing_day_task("2026-12-01")  # the beat entry itself runs here; its chunk tasks go to the broker
        _wait_for(lambda: Invoice.objects.filter(kind=InvoiceKind.LICENSE).count() == 5)
        _wait_for(lambda: Invoice.objects.filter(kind=InvoiceKind.PARTNER_PLAN).count() == 1)

    assert jobs == ["number_deletions", "new_numbers", "licenses", "month_closing", "partner_plans"]


def _wait_for(condition, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish the fanned-out tasks")

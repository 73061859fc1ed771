"""Deterministic demo data for `make run` and for trying the portal: safe to run again (nothing is duplicated)."""

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from billing.invoicing.calendar import billing_run
from billing.invoicing.prepayments import topup_issue
from billing.invoicing.settlement import invoice_mark_paid, invoice_mark_unpaid
from billing.models import (
    ExchangeRate,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentMethod,
    PaymentMethodKind,
    RateCardRate,
)
from billing.onboarding import hub_open, number_onboard
from billing.usage.ingest import usage_record_batch
from billing.usage.rate_card import rate_card_load
from clients.models import Client, ClientMembership
from core import clock
from core.company import Role
from hub.models import Hub, LicenseTier, PhoneNumber, Waba
from hub.services import number_request_deletion, waba_create
from partners.models import Partner, PartnerMembership, Plan
from portal.models import UserProfile

SAMPLE_RATE_CARD = Path(__file__).resolve().parents[1] / "billing" / "usage" / "data" / "rate_card_sample.csv"
PAID_BY_CARD = "Demo card payment"
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 -- printed for the demo logins; demo data only

PARTNERS = [
    {
        "name": "Nordlicht Digital",
        "company_name": "Nordlicht Digital GmbH",
        "country": "DE",
        "currency": "EUR",
        "plan": "growth",
        "vat_id": "DE811907980",
        "city": "Hamburg",
        "postal_code": "20095",
        "address_line1": "Mönckebergstraße 7",
        "billing_email": "billing@nordlicht.example",
        "invoice_language": "de",
        "login": "nordlicht",
        "timezone": "Europe/Berlin",
    },
    {
        "name": "Sunrise Messaging",
        "company_name": "Sunrise Messaging Inc.",
        "country": "US",
        "currency": "USD",
        "plan": "premium",
        "vat_id": "",
        "city": "Austin",
        "postal_code": "78701",
        "address_line1": "500 Congress Ave",
        "billing_email": "ap@sunrise.example",
        "invoice_language": "en",
        "login": "sunrise",
        "timezone": "America/Chicago",
    },
    {
        # A Brazilian partner: pays its Partner Plan by PIX or Boleto (CNPJ and UF in its billing details) and
        # reads its invoices in Portuguese.
        "name": "Conecta Brasil",
        "company_name": "Conecta Brasil Tecnologia Ltda.",
        "country": "BR",
        "currency": "USD",
        "plan": "growth",
        "vat_id": "",
        "tax_id": "11222333000181",
        "state": "SP",
        "city": "São Paulo",
        "postal_code": "01310-100",
        "address_line1": "Avenida Paulista 1578",
        "billing_email": "financeiro@conecta.example",
        "invoice_language": "pt-br",
        "login": "conecta",
        "timezone": "America/Sao_Paulo",
    },
]
# Brazilian clients' CNPJ and state (UF), which a Boleto needs; other clients' invoice language follows their
# country (DE → German, ES → Spanish, BR → Portuguese, else English).
BRAZIL_TAX_IDS = {"saopaulo": ("45997418000153", "SP")}

# (partner login, client login, company, country, VAT ID, hub id, waba id, timezone, numbers, daily messages, funds)
# numbers: (e164, tier, onboarded: "early" | day of this month, pending deletion?)
CLIENTS = [
    (
        "nordlicht",
        "mueller",
        "Bäckerei Müller GmbH",
        "DE",
        "DE136695976",
        "HUB-DEMQ7K2M",
        "104857600001",
        "Europe/Berlin",
        [("+4915112345678", "regular", "early", False), ("+4915112345679", "premium", 10, False)],
        60,
        Decimal("150"),
    ),
    (
        "nordlicht",
        "cafeole",
        "Café Olé S.L.",
        "ES",
        "ESB12345674",
        "HUB-DEMR4X8P",
        "104857600002",
        "Europe/Madrid",
        [("+34612345678", "regular", "early", False), ("+34612345679", "regular", "early", True)],
        35,
        Decimal("60"),
    ),
    (
        "nordlicht",
        "lodz",
        "Łódź Logistyka sp. z o.o.",
        "PL",
        "",
        "HUB-DEMT9W3C",
        "104857600003",
        "Europe/Warsaw",
        [("+48512345678", "regular", "early", False)],
        20,
        Decimal("10"),
    ),
    (
        "sunrise",
        "acme",
        "Acme Retail LLC",
        "US",
        "",
        "HUB-DEMU6H5N",
        "104857600004",
        "America/New_York",
        [("+12025550143", "premium", "early", False), ("+12025550144", "regular", 15, False)],
        80,
        Decimal("300"),
    ),
    (
        "sunrise",
        "saopaulo",
        "São Paulo Modas Ltda.",
        "BR",
        "",
        "HUB-DEMV3J7Y",
        "104857600005",
        "America/Sao_Paulo",
        [("+5511987654321", "regular", "early", False)],
        40,
        Decimal("50"),
    ),
]

CATEGORY_MIX = [("marketing", 5), ("utility", 3), ("authentication", 2), ("service", 3)]
COUNTRIES_BY_HOME = {
    "DE": ["DE", "DE", "DE", "AT", "CH", "FR", "NL", "GB"],
    "ES": ["ES", "ES", "ES", "PT", "FR", "MX"],
    "PL": ["PL", "PL", "DE", "CZ", "UA"],
    "US": ["US", "US", "US", "CA", "MX", "GB", "IN"],
    "BR": ["BR", "BR", "BR", "AR", "PT"],
}


@dataclass
class DemoLogin:
    username: str
    password: str
    party: str
    role: str


DEMO_USD_RATE = Decimal("1.080000")  # USD per 1 EUR: an illustration, not an official rate


def demo_seed(*, today: dt.date | None = None) -> list[DemoLogin]:
    """Create (or complete) the demo world; returns the logins to print."""
    now = clock.now()
    today = today or now.date()
    if not RateCardRate.objects.exists():
        with open(SAMPLE_RATE_CARD, newline="", encoding="utf-8") as handle:
            rate_card_load(lines=handle, source=SAMPLE_RATE_CARD.name)
    logins = [_staff_user()]
    partners = {}
    for spec in PARTNERS:
        partners[spec["login"]], partner_logins = _partner(spec)
        _card(partners[spec["login"]], spec["login"])
        logins += partner_logins
    this_month = today.replace(day=1)
    previous_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    for month in (previous_month, this_month):  # the dollar partners' plans reach the accountant's DATEV journal
        ExchangeRate.objects.get_or_create(currency="USD", month=month, defaults={
            "rate": DEMO_USD_RATE, "source": "Demo figure: enter the BMF monthly rate"})  # fmt: skip
    for spec in CLIENTS:
        hub, client_logins = _client(spec, partners[spec[0]], previous_month, this_month)
        logins += client_logins
        _card(hub.client, spec[1])
        _funds(hub, spec[10], previous_month, this_month, now)
        _usage(hub, spec, previous_month, now)
    _billing(previous_month, today)
    return logins


def _user(username: str, *, email: str, staff: bool = False, timezone: str = "UTC"):
    user, created = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.is_staff = user.is_superuser = staff
        user.save()
    # Dates on the pages are shown in the company's own time zone.
    UserProfile.objects.get_or_create(user=user, defaults={"timezone": timezone})
    return user


def _staff_user() -> DemoLogin:
    _user("admin", email="admin@hub-portal.example", staff=True)
    return DemoLogin("admin", DEMO_PASSWORD, "provider staff (/admin/)", "superuser")


def _partner(spec: dict) -> tuple[Partner, list[DemoLogin]]:
    fields = {k: v for k, v in spec.items() if k not in ("login", "plan", "name", "timezone")}
    partner, _ = Partner.objects.get_or_create(
        name=spec["name"], defaults={**fields, "plan": Plan.objects.get(code=spec["plan"])}
    )
    logins = []
    for role in Role.values:
        username = f"{spec['login']}-{role}"
        user = _user(username, email=f"{username}@partner.example", timezone=spec["timezone"])
        PartnerMembership.objects.get_or_create(user=user, defaults={"partner": partner, "role": role})
        logins.append(DemoLogin(username, DEMO_PASSWORD, f"partner {partner.name}", role))
    return partner, logins


def _client(spec, partner: Partner, previous_month: dt.date, this_month: dt.date) -> tuple[Hub, list[DemoLogin]]:
    _, login, company, country, vat_id, hub_id, waba_id, tz, numbers, _, _ = spec
    with transaction.atomic():
        client, _ = Client.objects.get_or_create(
            company_name=company,
            defaults={
                "partner": partner,
                "country": country,
                "vat_id": vat_id,
                "billing_email": f"finance@{login}.example",
                "tax_id": BRAZIL_TAX_IDS.get(login, ("", ""))[0],
                "state": BRAZIL_TAX_IDS.get(login, ("", ""))[1],
                "address_line1": "Demo Street 1",
                "postal_code": "10000",
                "city": "Demo City",
            },
        )
        hub = Hub.objects.filter(hub_id=hub_id).first() or hub_open(
            client=client, name=f"{company} Hub", hub_id=hub_id
        )
        waba = Waba.objects.filter(meta_waba_id=waba_id).first() or waba_create(
            hub=hub, meta_waba_id=waba_id, name=f"{company} WhatsApp", timezone=tz
        )
        for e164, tier, onboarded, pending_deletion in numbers:
            _number(waba, e164, tier, onboarded, pending_deletion, previous_month, this_month)
    logins = []
    for role in Role.values:
        username = f"{login}-{role}"
        user = _user(username, email=f"{username}@client.example", timezone=tz)
        ClientMembership.objects.get_or_create(user=user, defaults={"client": client, "role": role})
        logins.append(DemoLogin(username, DEMO_PASSWORD, f"client {company}", role))
    return hub, logins


def _number(waba, e164, tier, onboarded, pending_deletion, previous_month, this_month) -> None:
    if PhoneNumber.objects.filter(e164=e164).exclude(status=PhoneNumber.Status.DELETED).exists():
        return
    day = previous_month if onboarded == "early" else this_month.replace(day=onboarded)
    number = number_onboard(
        waba=waba,
        e164=e164,
        tier=LicenseTier.objects.get(code=tier),
        onboarded_at=dt.datetime.combine(day, dt.time(0 if onboarded == "early" else 9), tzinfo=dt.UTC),
        display_name=waba.name,
    )
    if pending_deletion:
        number_request_deletion(number=number)


def _funds(hub: Hub, amount: Decimal, previous_month: dt.date, this_month: dt.date, now: dt.datetime) -> None:
    """A paid top-up (Prepayment Invoice) at the start of each month: FUNDS_ADDED comes from the payment."""
    for month in (previous_month, this_month):
        occurred = dt.datetime.combine(month, dt.time(8), tzinfo=dt.UTC)
        if occurred <= now:
            invoice = topup_issue(
                hub=hub, amount=amount, request_key=f"demo-{hub.hub_id}-{month:%Y-%m}", issued_at=occurred
            )
            invoice_mark_paid(
                invoice=invoice, paid_at=occurred + dt.timedelta(minutes=2), reference="Demo card payment"
            )


CARDS = {"mueller": ("visa", "4242"), "acme": ("visa", "4242"), "sunrise": ("mastercard", "4444")}


def _card(party, login: str) -> None:
    """A saved card (Stripe's test tokens) for some clients and a partner, so their invoices show the card fee."""
    if login not in CARDS:
        return
    brand, last4 = CARDS[login]
    owner = {"client": party} if isinstance(party, Client) else {"partner": party}
    PaymentMethod.objects.get_or_create(
        **owner, kind=PaymentMethodKind.CARD, position=0,
        defaults={"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2030,
                  "stripe_payment_method_id": f"pm_demo_{login}"},
    )  # fmt: skip


def _billing(previous_month: dt.date, today: dt.date) -> None:
    """Run the billing calendar over the demo's two months, as beat would have; last month's invoices are paid,
    except one client's license (its automatic charge failed)."""
    day = previous_month
    while day <= today:
        if day.day == 1 or day.month == today.month:
            billing_run(day=day)
        day += dt.timedelta(days=1)
    for invoice in Invoice.objects.filter(
        issued_at__lt=dt.datetime.combine(today.replace(day=1), dt.time.min, tzinfo=dt.UTC),
        status=InvoiceStatus.PENDING,
    ):
        if invoice.kind == InvoiceKind.LICENSE and invoice.billed_company.get("hub_id") == "HUB-DEMT9W3C":
            invoice_mark_unpaid(invoice=invoice)
        else:
            invoice_mark_paid(
                invoice=invoice, paid_at=invoice.issued_at + dt.timedelta(hours=1), reference="Demo card payment"
            )


def _usage(hub: Hub, spec, previous_month: dt.date, now: dt.datetime) -> None:
    """Messages every day from the start of last month until now, deterministic per hub and day, each sent from a
    number that was onboarded (and not yet deleted) at the time."""
    _, _, _, country, _, _, waba_id, _, _, per_day, _ = spec
    numbers = list(PhoneNumber.objects.filter(waba__meta_waba_id=waba_id).values_list("e164", "onboarded_at"))
    day, batch = previous_month, []
    while (start := dt.datetime.combine(day, dt.time(7), tzinfo=dt.UTC)) < now:
        rng = random.Random(f"{hub.hub_id}:{day}")
        for n in range(rng.randint(per_day // 2, per_day)):
            sent = start + dt.timedelta(minutes=rng.randint(0, 14 * 60))
            live = [e164 for e164, onboarded_at in numbers if onboarded_at <= sent]
            if sent >= now or not live:
                continue
            category = rng.choices([c for c, _ in CATEGORY_MIX], weights=[w for _, w in CATEGORY_MIX])[0]
            batch.append(
                {
                    "message_id": f"wamid.DEMO.{hub.hub_id}.{day:%Y%m%d}.{n:04d}",
                    "waba_id": waba_id,
                    "phone_number": rng.choice(live),
                    "recipient_country": rng.choice(COUNTRIES_BY_HOME[country]),
                    "category": category,
                    "billable": category != "service",
                    "pricing_model": "PMP",
                    "timestamp": sent.isoformat(),
                }
            )
            if len(batch) == 1000:
                usage_record_batch(events=batch)
                batch = []
        day += dt.timedelta(days=1)
    if batch:
        usage_record_batch(events=batch)

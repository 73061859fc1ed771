"""Factories for the whole domain. Hubs are made through the service, so each has its credit account."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model

from billing.onboarding import hub_open
from clients.models import Client
from hub.models import Hub, LicenseTier, PhoneNumber, Waba
from partners.models import Partner, Plan


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests")


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Partner {n}")
    company_name = factory.LazyAttribute(lambda p: f"{p.name} GmbH")
    country = "DE"
    # The suite's parties read English invoices unless a test says otherwise (tests/i18n pick other languages).
    invoice_language = "en"
    billing_email = factory.LazyAttribute(lambda p: f"billing@{p.name.replace(' ', '').lower()}.example")
    currency = "EUR"
    plan = factory.LazyFunction(lambda: Plan.objects.get(code="growth"))


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    partner = factory.SubFactory(PartnerFactory)
    company_name = factory.Sequence(lambda n: f"Client {n} GmbH")
    country = "DE"
    invoice_language = "en"
    billing_email = factory.Sequence(lambda n: f"finance{n}@client.example")


class HubFactory(factory.django.DjangoModelFactory):
    """Creates through `billing.onboarding.hub_open`, so every hub has its credit account in its owner's currency."""

    class Meta:
        model = Hub

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Hub {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return hub_open(**kwargs)


class WabaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Waba

    hub = factory.SubFactory(HubFactory)
    meta_waba_id = factory.Sequence(lambda n: f"{100000000000 + n}")
    name = factory.Sequence(lambda n: f"WABA {n}")
    timezone = "UTC"


class PhoneNumberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PhoneNumber

    waba = factory.SubFactory(WabaFactory)
    e164 = factory.Sequence(lambda n: f"+49151{10000000 + n}")
    tier = factory.LazyFunction(lambda: LicenseTier.objects.get(code="regular"))
    onboarded_at = dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)

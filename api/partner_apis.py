"""The partner's API (a partner key): its own Partner Plan invoices, its clients with this month's usage and billing
status, and onboarding a client. Never a client's invoices: only their paid / unpaid state."""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Sum
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from api.client_apis import (
    BODY_ERRORS,
    INVOICE_NUMBER,
    PDF_RESPONSE,
    XML_PARAMETERS,
    XML_RESPONSE,
    InvoicePdfView,
    InvoiceXmlView,
    NoFilters,
    Pages,
    errors,
    filter_invoices,
    id_or_404,
    id_parameter,
    query,
    reference_or_404,
)
from api.errors import Conflict
from api.permissions import PartnerKey
from api.serializers import (
    ClientOnboardSerializer,
    InvoiceSerializer,
    OnboardedClientSerializer,
    PartnerClientSerializer,
    PartnerInvoiceDetailSerializer,
    PartnerInvoiceFilterSerializer,
)
from billing.models import Invoice, MessageUsage
from billing.onboarding import client_onboard
from billing.restrictions import OnboardingBlocked
from billing.selectors.invoices import party_invoices
from billing.selectors.partners import ClientBillingStatus, client_billing_statuses, clients_with_billing_status
from clients.models import Client
from core import clock
from hub.models import Hub


def partner_invoices(request):
    return party_invoices(party=request.auth.partner)


@extend_schema(
    tags=["partner"],
    parameters=[PartnerInvoiceFilterSerializer],
    responses={200: InvoiceSerializer, **errors(400, 404)},
)
class PartnerInvoiceList(generics.ListAPIView):
    """The partner's own Partner Plan invoices, newest first; filter by status and period (YYYY-MM)."""

    permission_classes = [PartnerKey]
    serializer_class = InvoiceSerializer
    pagination_class = Pages

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        filters = query(PartnerInvoiceFilterSerializer, self.request)
        return filter_invoices(partner_invoices(self.request), filters).order_by("-issued_at", "-id")


@extend_schema(tags=["partner"], responses={200: PartnerInvoiceDetailSerializer, **errors(404)})
class PartnerInvoiceDetail(APIView):
    """One of the partner's invoices with its lines, by number."""

    permission_classes = [PartnerKey]

    def get(self, request, number: str):
        number = reference_or_404(number, INVOICE_NUMBER)
        invoice = get_object_or_404(partner_invoices(request).prefetch_related("lines"), number=number)
        return Response(PartnerInvoiceDetailSerializer(invoice).data)


@extend_schema(tags=["partner"], responses={**PDF_RESPONSE, **errors(404)})
class PartnerInvoicePdf(InvoicePdfView):
    """The invoice's PDF (application/pdf)."""

    permission_classes = [PartnerKey]
    invoices_of = partner_invoices


@extend_schema(tags=["partner"], parameters=XML_PARAMETERS, responses={**XML_RESPONSE, **errors(400, 404)})
class PartnerInvoiceXml(InvoiceXmlView):
    """The invoice's e-invoice XML (application/xml)."""

    permission_classes = [PartnerKey]
    invoices_of = partner_invoices


# Clients ------------------------------------------------------------------------------------------------------------
def clients_overview(clients: list[Client]) -> list[dict]:
    """Each client with this month's usage, credit balance, and its billing status (the same selector as the
    Partner Hub page): four queries whatever the number of clients."""
    month = clock.month_start(clock.now())
    client_ids = [c.pk for c in clients]
    hubs = list(Hub.objects.filter(client_id__in=client_ids).select_related("credit_account").order_by("hub_id"))
    usage = {
        row["hub_id"]: row
        for row in MessageUsage.objects.filter(hub_id__in=[h.pk for h in hubs], period=month)
        .values("hub_id")
        .annotate(messages=Count("id"), cost=Sum("cost"))
        .order_by()
    }
    statuses = client_billing_statuses(clients=clients)
    hubs_of = defaultdict(list)
    for hub in hubs:
        hubs_of[hub.client_id].append(hub)
    return [_client_row(c, hubs_of[c.pk], usage, statuses[c.pk], month) for c in clients]


def _client_row(client: Client, hubs: list[Hub], usage: dict, billing: ClientBillingStatus, month) -> dict:
    return {
        "id": client.pk, "company_name": client.company_name, "country": client.country,
        "billing_email": client.billing_email, "created_at": client.created_at, "currency": client.partner.currency,
        "usage_month": month,
        "messages_this_month": sum(usage.get(h.pk, {}).get("messages", 0) for h in hubs),
        "usage_cost_this_month": sum((usage.get(h.pk, {}).get("cost") or Decimal(0) for h in hubs), Decimal(0)),
        "credit_balance": sum((h.credit_account.balance for h in hubs), Decimal(0)),
        "license_status": billing.license_status,
        "mci_status": billing.mci_status,
        "restricted": billing.restricted,
        "hubs": [{"hub_id": h.hub_id, "name": h.name, "balance": h.credit_account.balance,
                  "restrictions": billing.restrictions_of(h.pk)} for h in hubs],
    }  # fmt: skip


class PartnerClientList(generics.GenericAPIView):
    permission_classes = [PartnerKey]
    serializer_class = PartnerClientSerializer
    pagination_class = Pages

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Client.objects.none()
        clients = Client.objects.filter(partner=self.request.auth.partner).select_related("partner")
        return clients_with_billing_status(clients).order_by("company_name", "id")

    @extend_schema(tags=["partner"], responses={200: PartnerClientSerializer(many=True), **errors(404)})
    def get(self, request):
        """The partner's clients with this month's usage, credit balance, License / Month Closing Invoice state
        (paid, pending, unpaid) and active restrictions."""
        query(NoFilters, request)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PartnerClientSerializer(clients_overview(page), many=True).data)

    @extend_schema(
        tags=["partner"],
        request=ClientOnboardSerializer,
        responses={201: OnboardedClientSerializer, **errors(*BODY_ERRORS, 409)},
    )
    def post(self, request):
        """Onboard a client under the partner. Refused (409, with the reason) while onboarding is blocked by an
        unpaid Partner Plan invoice."""
        serializer = ClientOnboardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            client = client_onboard(partner=request.auth.partner, **serializer.validated_data)
        except OnboardingBlocked as blocked:
            raise Conflict(str(blocked), "onboarding_blocked") from blocked
        return Response(OnboardedClientSerializer(client).data, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["partner"],
    parameters=[id_parameter("client_id", "The client's id (`id` in the clients list).")],
    responses={200: PartnerClientSerializer, **errors(404)},
)
class PartnerClientDetail(APIView):
    """One of the partner's clients, with the same figures as the list."""

    permission_classes = [PartnerKey]

    def get(self, request, client_id: str):
        client = get_object_or_404(
            clients_with_billing_status(Client.objects.select_related("partner")),
            partner=request.auth.partner,
            pk=id_or_404(client_id),
        )
        return Response(PartnerClientSerializer(clients_overview([client])[0]).data)

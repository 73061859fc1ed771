"""The client's API (a client key): its invoices, credit balances, ledger, usage, numbers and top-ups. Every query
starts from `request.auth.client`, so another party's invoice number, hub or number id is a 404."""

import re
import uuid
from collections.abc import Callable

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from api.errors import Conflict, StripeUnreachable, Unprocessable
from api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from api.permissions import ClientKey
from api.serializers import (
    ClientInvoiceDetailSerializer,
    ClientInvoiceSerializer,
    CreditBalanceSerializer,
    ErrorSerializer,
    HubFilterSerializer,
    InvoiceFilterSerializer,
    LedgerEntrySerializer,
    NumberFilterSerializer,
    NumberOnboardSerializer,
    PhoneNumberSerializer,
    TopUpResultSerializer,
    TopUpSerializer,
    UsageQuerySerializer,
    UsageRowSerializer,
)
from billing.einvoice import SYNTAX_FACTURX, SYNTAXES, EInvoiceUnavailable, einvoice_filename, invoice_xml
from billing.invoicing.prepayments import PrepaymentError
from billing.models import CreditAccount, Invoice, InvoiceStatus, LedgerEntry, MessageUsage, Restriction
from billing.onboarding import number_onboard
from billing.payments.topup_requests import TopupKeyReused, topup_request
from billing.pdf import invoice_pdf_bytes
from billing.selectors.invoices import party_invoices
from hub.models import Hub, LicenseTier, PhoneNumber, Waba
from hub.services import number_request_deletion

INVOICE_NUMBER = re.compile(r"[A-Z]{1,4}-\d{4}-\d{1,9}")
HUB_ID = re.compile(r"HUB-[A-Z0-9]{1,12}")
MAX_ID = 2**63 - 1

_ERROR_TEXT = {
    400: "The request has invalid fields (see `fields`).",
    401: "No API key, or an unknown or revoked one. The response carries `WWW-Authenticate: Bearer`.",
    403: "The key is of another kind (a client key on a partner endpoint, …).",
    404: "No such object among this key's own party's.",
    409: "The request conflicts with the current state.",
    422: "The Idempotency-Key was already used with a different request.",
    503: "Stripe cannot be reached just now; nothing was charged twice. `Retry-After` says when to send the same "
    "request (same Idempotency-Key) again.",
    429: "Too many requests for this key; `Retry-After` says in how many seconds to try again.",
    413: "The request body is larger than the API reads (2.5 MB).",
    415: "The body is not sent as `Content-Type: application/json`.",
}
BODY_ERRORS = (400, 413, 415)  # what any operation with a request body may answer about the body itself
PAGING_PARAMETERS = {"page", "page_size", "cursor", "format"}  # read by the paginators and renderers, not filters


def errors(*codes: int) -> dict:
    """The error responses an operation may give, each in the one error shape (401, 403 and 429 always, and 400: a
    query parameter holding a NUL byte is refused on every operation)."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT[code])
        for code in sorted({400, 401, 403, 429, *codes})
    }


def reference_or_404(value: str, pattern: re.Pattern) -> str:
    """A path reference of the right shape, or 404 (so no odd text reaches the database)."""
    if not pattern.fullmatch(value):
        raise NotFound()
    return value


def id_or_404(value: str) -> int:
    """A path id: digits within the database's range, or 404 (matched as text, so a malformed id is a JSON 404)."""
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise NotFound()
    return int(value)


def id_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT, OpenApiParameter.PATH, description=description)


class NoFilters(Serializer):
    """The query of an operation that takes no filter (only paging and format)."""


def query(serializer_class, request) -> dict:
    """The query string parsed and validated by a serializer (400 in the error shape when it does not fit). A filter
    sent empty (?hub=) is refused, not read as absent; so is an unknown parameter (a misspelt filter would otherwise
    answer with everything)."""
    fields = set(serializer_class().fields)
    problems = {name: [_("This field may not be blank.")] for name in fields if request.query_params.get(name) == ""}
    problems |= {
        name: [_("Unknown query parameter.")] for name in request.query_params if name not in fields | PAGING_PARAMETERS
    }
    if problems:
        raise ValidationError(problems)
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class StrictPageSize:
    """`page_size`, when sent, must be a whole number from 1 (DRF would silently use the default for "abc")."""

    def get_page_size(self, request):
        sent = request.query_params.get(self.page_size_query_param)
        if sent is not None and not (sent.isascii() and sent.isdigit() and sent.strip("0")):
            raise ValidationError({self.page_size_query_param: [_("Enter a whole number from 1.")]})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] in (self.page_size_query_param, "page"):
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
            elif parameter["name"] == "cursor":  # as the API wrote it in `next` / `previous`: URL-safe base64
                parameter["schema"] = {**parameter["schema"], "pattern": "^[A-Za-z0-9+/=_-]+$"}
        return parameters


class Pages(StrictPageSize, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator):
        if request.query_params.get(self.page_query_param) == "":  # DRF would read ?page= as the first page
            raise NotFound(_("Invalid page."))
        return super().get_page_number(request, paginator)


class NewestFirst(StrictPageSize, CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def decode_cursor(self, request):
        """DRF's cursor, whose position must be an id: a forged one (p=abc) is "Invalid cursor" (404), not a crash."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not _is_id(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor


def _is_id(position: str) -> bool:
    return position.isascii() and position.isdigit() and int(position) < 2**63


class PdfRenderer(BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class InvoicePdfView(APIView):
    """An issued invoice's PDF: the stored file, else rendered now and stored (invoice_pdf_bytes). Errors stay JSON."""

    renderer_classes = [JSONRenderer, PdfRenderer]
    invoices_of: Callable[[Request], QuerySet[Invoice]]  # the key's own invoices (client or partner)

    def get(self, request, number: str):
        query(NoFilters, request)
        number = reference_or_404(number, INVOICE_NUMBER)
        invoice = get_object_or_404(type(self).invoices_of(request).exclude(status=InvoiceStatus.DRAFT), number=number)
        data = invoice_pdf_bytes(invoice=invoice)
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice.number}.pdf"'
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response):
            response.accepted_renderer, response.accepted_media_type = JSONRenderer(), "application/json"
        return response


class XmlRenderer(BaseRenderer):
    media_type = "application/xml"
    format = "xml"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class InvoiceXmlView(InvoicePdfView):
    """An issued invoice's e-invoice: EN 16931 CII, Factur-X (the XML inside its PDF), or XRechnung with
    ?syntax=xrechnung when the client has a buyer reference (Leitweg-ID). Errors stay JSON."""

    renderer_classes = [JSONRenderer, XmlRenderer]

    def get(self, request, number: str):
        number = reference_or_404(number, INVOICE_NUMBER)
        invoice = get_object_or_404(type(self).invoices_of(request).exclude(status=InvoiceStatus.DRAFT), number=number)
        syntax = request.query_params.get("syntax", SYNTAX_FACTURX)
        if syntax not in SYNTAXES:
            raise ValidationError({"syntax": [f"One of {', '.join(SYNTAXES)}."]})
        try:
            data = invoice_xml(invoice=invoice, syntax=syntax)
        except EInvoiceUnavailable as error:
            raise NotFound(str(error)) from error
        response = HttpResponse(data, content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="{einvoice_filename(invoice.number, syntax)}"'
        return response


PDF_RESPONSE = {(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice as a PDF.")}
XML_RESPONSE = {
    (200, "application/xml"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice as EN 16931 CII XML.")
}
XML_PARAMETERS = [
    OpenApiParameter("syntax", str, enum=list(SYNTAXES), description="factur-x (default) or xrechnung.")
]


def filter_invoices(invoices: QuerySet[Invoice], filters: dict) -> QuerySet[Invoice]:
    if "kind" in filters:
        invoices = invoices.filter(kind=filters["kind"])
    if "status" in filters:
        invoices = invoices.filter(status=filters["status"])
    if "period" in filters:
        year, month = map(int, filters["period"].split("-"))
        invoices = invoices.filter(period_start__year=year, period_start__month=month)
    return invoices


# Invoices -----------------------------------------------------------------------------------------------------------
def client_invoices(request) -> QuerySet[Invoice]:
    return party_invoices(party=request.auth.client)


@extend_schema(
    tags=["client"], parameters=[InvoiceFilterSerializer], responses={200: ClientInvoiceSerializer, **errors(400, 404)}
)
class InvoiceList(generics.ListAPIView):
    """The client's issued invoices, newest first; filter by kind, status, period (YYYY-MM) and hub."""

    permission_classes = [ClientKey]
    serializer_class = ClientInvoiceSerializer
    pagination_class = Pages

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        filters = query(InvoiceFilterSerializer, self.request)
        invoices = filter_invoices(client_invoices(self.request).select_related("hub"), filters)
        if "hub" in filters:
            invoices = invoices.filter(hub__hub_id=filters["hub"])
        return invoices.order_by("-issued_at", "-id")


@extend_schema(tags=["client"], responses={200: ClientInvoiceDetailSerializer, **errors(404)})
class InvoiceDetail(APIView):
    """One invoice with its lines, by number."""

    permission_classes = [ClientKey]

    def get(self, request, number: str):
        number = reference_or_404(number, INVOICE_NUMBER)
        invoice = get_object_or_404(
            client_invoices(request).select_related("hub").prefetch_related("lines"), number=number
        )
        return Response(ClientInvoiceDetailSerializer(invoice).data)


@extend_schema(tags=["client"], responses={**PDF_RESPONSE, **errors(404)})
class InvoicePdf(InvoicePdfView):
    """The invoice's PDF (application/pdf)."""

    permission_classes = [ClientKey]
    invoices_of = client_invoices


@extend_schema(tags=["client"], parameters=XML_PARAMETERS, responses={**XML_RESPONSE, **errors(400, 404)})
class InvoiceXml(InvoiceXmlView):
    """The invoice's e-invoice XML (application/xml)."""

    permission_classes = [ClientKey]
    invoices_of = client_invoices


# Credit balances and the ledger -------------------------------------------------------------------------------------
@extend_schema(
    tags=["client"],
    parameters=[HubFilterSerializer],
    responses={200: CreditBalanceSerializer(many=True), **errors(400)},
)
class CreditBalanceList(APIView):
    """Each hub's credit balance, its auto-renewal settings and any active block of outbound messaging."""

    permission_classes = [ClientKey]

    def get(self, request):
        filters = query(HubFilterSerializer, request)
        active = Restriction.objects.filter(lifted_at__isnull=True).order_by("started_at")
        accounts = (
            CreditAccount.objects.filter(hub__client=request.auth.client)
            .select_related("hub")
            .prefetch_related(Prefetch("hub__restrictions", queryset=active, to_attr="active_restrictions"))
            .order_by("hub__hub_id")
        )
        if "hub" in filters:
            accounts = accounts.filter(hub__hub_id=filters["hub"])
        return Response(CreditBalanceSerializer(accounts, many=True).data)


@extend_schema(
    tags=["client"], parameters=[HubFilterSerializer], responses={200: LedgerEntrySerializer, **errors(400, 404)}
)
class LedgerEntryList(generics.ListAPIView):
    """The ledger of the client's credit balances, newest entry first (cursor pagination: follow `next`)."""

    permission_classes = [ClientKey]
    serializer_class = LedgerEntrySerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        filters = query(HubFilterSerializer, self.request)
        entries = LedgerEntry.objects.filter(account__hub__client=self.request.auth.client).select_related(
            "account__hub"
        )
        if "hub" in filters:
            entries = entries.filter(account__hub__hub_id=filters["hub"])
        return entries


# Usage --------------------------------------------------------------------------------------------------------------
@extend_schema(
    tags=["client"], parameters=[UsageQuerySerializer], responses={200: UsageRowSerializer, **errors(400, 404)}
)
class UsageSummary(generics.ListAPIView):
    """Messages and their cost by day (in the WABA's time zone) × WABA × number × category × market, for at most
    93 days (`start` and `end` inclusive)."""

    permission_classes = [ClientKey]
    serializer_class = UsageRowSerializer
    pagination_class = Pages

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return MessageUsage.objects.none()
        filters = query(UsageQuerySerializer, self.request)
        hubs = Hub.objects.filter(client=self.request.auth.client)
        if "hub" in filters:
            hubs = hubs.filter(hub_id=filters["hub"])
        keys = ("rate_date", "waba__meta_waba_id", "phone_number__e164", "category", "market", "currency")
        return (
            MessageUsage.objects.filter(
                hub_id__in=hubs.values("id"), rate_date__gte=filters["start"], rate_date__lte=filters["end"]
            )
            .values(*keys)
            .annotate(messages=Count("id"), billable_messages=Count("id", filter=Q(billable=True)), cost=Sum("cost"))
            .order_by(*keys)
        )


# Numbers ------------------------------------------------------------------------------------------------------------
def client_numbers(request) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(waba__hub__client=request.auth.client).select_related("waba__hub", "tier")


class NumberList(generics.ListAPIView):
    permission_classes = [ClientKey]
    serializer_class = PhoneNumberSerializer
    pagination_class = Pages

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PhoneNumber.objects.none()
        filters = query(NumberFilterSerializer, self.request)
        numbers = client_numbers(self.request)
        if "status" in filters:
            numbers = numbers.filter(status=filters["status"])
        if "hub" in filters:
            numbers = numbers.filter(waba__hub__hub_id=filters["hub"])
        return numbers.order_by("e164", "id")

    @extend_schema(
        tags=["client"], parameters=[NumberFilterSerializer], responses={200: PhoneNumberSerializer, **errors(400, 404)}
    )
    def get(self, request, *args, **kwargs):
        """The numbers of the client's WABAs with tier, status and license state."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["client"],
        request=NumberOnboardSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: PhoneNumberSerializer, **errors(*BODY_ERRORS, 409, 422)},
    )
    @idempotent
    def post(self, request):
        """Onboard a number on one of the client's WABAs. Onboarded after the 1st, it gets its pro-rated License
        Invoice – New Numbers; send an Idempotency-Key so a retried request does not onboard it twice."""
        serializer = NumberOnboardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        waba = Waba.objects.filter(hub__client=request.auth.client, meta_waba_id=data["waba_id"]).first()
        if waba is None:
            raise ValidationError({"waba_id": [_("None of your WABAs has this id.")]})
        tier = LicenseTier.objects.filter(code=data["tier"]).first()
        if tier is None:
            raise ValidationError({"tier": [_("No license tier has this code.")]})
        number = number_onboard(
            waba=waba,
            e164=data["e164"],
            tier=tier,
            display_name=data["display_name"],
            meta_phone_number_id=data["meta_phone_number_id"],
        )
        return Response(PhoneNumberSerializer(client_numbers(request).get(pk=number.pk)).data, status.HTTP_201_CREATED)


@extend_schema(
    tags=["client"],
    request=None,
    parameters=[id_parameter("number_id", "The number's id (`id` in the numbers list).")],
    responses={200: PhoneNumberSerializer, **errors(404, 409)},
)
class NumberDeletion(APIView):
    """Request a number's deletion: it stays licensed (and billed) until the month ends, then it is deleted.
    Asking again changes nothing."""

    permission_classes = [ClientKey]

    def post(self, request, number_id: str):
        number = get_object_or_404(client_numbers(request), pk=id_or_404(number_id))
        if number.status == PhoneNumber.Status.DELETED:
            raise Conflict(_("This number is already deleted."), "number_deleted")
        number_request_deletion(number=number)
        return Response(PhoneNumberSerializer(client_numbers(request).get(pk=number.pk)).data)


# Top-ups ------------------------------------------------------------------------------------------------------------
class TopUp(APIView):
    permission_classes = [ClientKey]

    @extend_schema(
        tags=["client"],
        request=TopUpSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: TopUpResultSerializer, **errors(*BODY_ERRORS, 404, 409, 422, 503)},
    )
    @idempotent
    def post(self, request, hub_id: str):
        """Add funds to a hub's credit balance: issues a Prepayment Invoice and charges it to the client's saved
        card at once; the funds reach the balance when the charge succeeds (payment.state paid). Send an
        Idempotency-Key: a retried request then returns the same invoice and never charges twice."""
        hub = get_object_or_404(Hub, client=request.auth.client, hub_id=reference_or_404(hub_id, HUB_ID))
        serializer = TopUpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The invoice is named by the Idempotency-Key: a retry finds it instead of issuing (and charging) another.
        request_key = f"api:{request.auth.pk}:{request.headers.get('Idempotency-Key') or uuid.uuid4().hex}"
        try:
            outcome = topup_request(
                hub=hub, amount=serializer.validated_data["amount"], request_key=request_key, payer_present=False
            )
        except PrepaymentError as error:
            raise ValidationError({"amount": [str(error)]}) from error
        except TopupKeyReused as reused:
            raise Unprocessable(str(reused), "idempotency_key_reused") from reused
        if outcome.state == "no_card":
            raise Conflict(_("No card is saved to charge: add one in the Client Hub first."), "no_card")
        if outcome.state == "unavailable":
            raise StripeUnreachable(outcome.message)
        invoice = client_invoices(request).select_related("hub").prefetch_related("lines").get(pk=outcome.invoice.pk)
        body = {
            "invoice": invoice,
            "payment": {"state": outcome.state, "failures": list(outcome.failures)},
            "balance": CreditAccount.objects.get(hub=hub).balance,
        }
        return Response(TopUpResultSerializer(body).data, status=status.HTTP_201_CREATED)

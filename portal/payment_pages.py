"""Paying invoices and keeping payment methods: the same pages in the Client Hub (/client/…, a client's invoices)
and the Partner Hub (/partner/…, its Partner Plan invoices). The party comes from the signed-in user's membership,
and the URL's namespace must be that party's kind; every row is looked up inside the party."""

from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing import stripe_api
from billing.models import (
    AttemptStatus,
    Invoice,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
)
from billing.payments import manual
from billing.payments.attempts import attempt_sync
from billing.payments.eligibility import ELIGIBILITY, method_check
from billing.payments.errors import PaymentRefused
from billing.payments.methods import (
    card_setup_complete,
    card_setup_start,
    payment_method_remove,
    payment_methods_reorder,
)
from billing.payments.methods import voucher_method_add as voucher_method_save
from billing.payments.parties import methods_of
from billing.selectors.invoices import party_invoices as invoices_of_party
from portal.payment_forms import CardAddedForm, MethodsOrderForm, PayForm, VoucherMethodForm
from portal.scope import membership_of

UNAVAILABLE = gettext_lazy("Stripe cannot be reached just now; nothing was charged. Please try again later.")
UNAVAILABLE_UNCHANGED = gettext_lazy("Stripe cannot be reached just now; nothing was changed. Please try again later.")
VOUCHER_KINDS = (PaymentMethodKind.PIX, PaymentMethodKind.BOLETO)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stripe_elements(view):
    """A page where Stripe.js runs (card entry, 3-D Secure): its Content-Security-Policy also allows Stripe.js's
    origin (STRIPE_JS_URL, read per request) for the script and its frames and calls, and Stripe's API and 3-D
    Secure hosts, as Stripe documents for Elements. Every other page allows our own origin only."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        stripe_js = _origin(settings.STRIPE_JS_URL)
        response._csp_update = {
            "script-src": [stripe_js],
            "connect-src": [stripe_js, "https://api.stripe.com"],
            "img-src": ["https://*.stripe.com"],
        }
        # Frames are 'none' elsewhere; 'none' beside a source would be ignored, so the list is replaced here.
        response._csp_replace = {"frame-src": [stripe_js, "https://js.stripe.com", "https://hooks.stripe.com"]}
        return response

    return wrapped


def party_required(view):
    """A page of either hub: `request.membership` is the user's client or partner membership, and the URL's
    namespace (client / partner) must be its kind."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_of(request.user)
        if membership is None or request.resolver_match.namespace != membership.kind:
            raise PermissionDenied
        request.membership = membership
        return view(request, *args, **kwargs)

    return wrapped


def _refuse_viewers(request: HttpRequest) -> None:
    if not request.membership.can_manage:
        raise PermissionDenied


def _url(request: HttpRequest, name: str, *args) -> str:
    return reverse(f"{request.membership.kind}:{name}", args=args)


def party_invoices(membership) -> QuerySet[Invoice]:
    """The invoices a party pays: the one selector of a party's invoices (a partner's are its Partner Plan ones)."""
    return invoices_of_party(party=membership.party)


def _voucher_kinds(party) -> list[str]:
    kinds = []
    for kind in VOUCHER_KINDS:
        try:
            method_check(kind=kind, party=party)
        except PaymentRefused:
            continue
        kinds.append(kind)
    return kinds


def method_label(method: PaymentMethod) -> str:
    """The method as its owner knows it: "Visa •••• 4242", "PIX"."""
    if method.kind == PaymentMethodKind.CARD:
        return f"{(method.brand or _('Card')).capitalize()} •••• {method.last4}"
    return str(method.get_kind_display())


def _card_choice(card: PaymentMethod) -> str:
    if not card.exp_month:
        return method_label(card)
    return _("%(card)s, expires %(month)02d/%(year)s") % {
        "card": method_label(card), "month": card.exp_month, "year": card.exp_year,
    }  # fmt: skip


def _pay_options(party) -> tuple[list[tuple[str, str]], dict]:
    cards = {m.pk: m for m in methods_of(party).filter(kind=PaymentMethodKind.CARD)}
    options = [(f"card:{pk}", _card_choice(card)) for pk, card in cards.items()]
    for kind in _voucher_kinds(party):
        label = _("%(method)s voucher (in BRL, no transaction fee)") % {"method": ELIGIBILITY[kind].label}
        options.append((kind, label))
    return options, cards


def _stripe_js(request: HttpRequest) -> dict:
    return {"stripe_js_url": settings.STRIPE_JS_URL, "publishable_key": settings.STRIPE_PUBLISHABLE_KEY}


@stripe_elements
@party_required
@require_http_methods(["GET", "POST"])
def invoice_pay(request: HttpRequest, number: str) -> HttpResponse:
    _refuse_viewers(request)  # a viewer never reaches a Pay page, not even to look at it
    invoice = get_object_or_404(party_invoices(request.membership), number=number)
    options, cards = _pay_options(request.membership.party)
    form = PayForm(request.POST or None, options=options)
    context = {"invoice": invoice, "form": form, "payable": invoice.status in manual.PAYABLE}
    if request.method == "POST":
        _refuse_viewers(request)
        if form.is_valid():
            kind, card = form.kind_and_card(cards)
            try:
                start = manual.invoice_pay(invoice=invoice, kind=kind, payment_method=card)
            except PaymentRefused as refused:
                messages.error(request, str(refused))
            except stripe_api.StripeUnavailable:
                messages.error(request, UNAVAILABLE)
            else:
                return _after_start(request, invoice, start)
    return render(request, "portal/pay.html", context, status=400 if request.method == "POST" else 200)


def _after_start(request: HttpRequest, invoice: Invoice, start: manual.PaymentStart) -> HttpResponse:
    status_url = _url(request, "payment-status", start.attempt_id)
    if start.status == AttemptStatus.SUCCEEDED:
        messages.success(request, start.message)
        return redirect(_url(request, "invoice", invoice.number))
    if start.status == AttemptStatus.FAILED:
        messages.error(request, start.message)
        return redirect(_url(request, "invoice-pay", invoice.number))
    if start.client_secret:
        # 3-D Secure: Stripe.js asks the cardholder, then the status page re-reads the payment.
        context = {"invoice": invoice, "start": start, "status_url": status_url, **_stripe_js(request)}
        return render(request, "portal/pay.html", context)
    return redirect(status_url)


@party_required
@require_GET
def payment_status(request: HttpRequest, attempt_id: int) -> HttpResponse:
    attempt = get_object_or_404(
        PaymentAttempt.objects.select_related("invoice"), pk=attempt_id, invoice__in=party_invoices(request.membership)
    )
    unavailable = False
    try:
        attempt = attempt_sync(attempt=attempt)
    except stripe_api.StripeUnavailable:
        unavailable = True
    attempt.invoice.refresh_from_db()
    context = {"attempt": attempt, "invoice": attempt.invoice, "unavailable": unavailable}
    return render(request, "portal/payment_status.html", context)


@party_required
@require_GET
def payment_methods(request: HttpRequest) -> HttpResponse:
    party = request.membership.party
    methods = list(methods_of(party))
    saved_kinds = {m.kind for m in methods}
    voucher_choices = []
    if request.membership.kind == "partner":
        voucher_choices = [(kind, ELIGIBILITY[kind].label) for kind in VOUCHER_KINDS if kind not in saved_kinds]
    context = {
        "methods": methods,
        "voucher_choices": voucher_choices,
        "eligible_vouchers": _voucher_kinds(party),
        "card_kind": PaymentMethodKind.CARD,
    }
    return render(request, "portal/payment_methods.html", context)


@stripe_elements
@party_required
@require_GET
def card_add(request: HttpRequest) -> HttpResponse:
    _refuse_viewers(request)
    try:
        setup = card_setup_start(party=request.membership.party)
    except PaymentRefused as refused:
        messages.error(request, str(refused))
        return redirect(_url(request, "payment-methods"))
    except stripe_api.StripeUnavailable:
        messages.error(request, UNAVAILABLE)
        return redirect(_url(request, "payment-methods"))
    context = {
        "setup": setup,
        "card_added_url": _url(request, "card-added"),
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": setup.publishable_key,
    }
    return render(request, "portal/card_add.html", context)


@party_required
@require_POST
def card_added(request: HttpRequest) -> HttpResponse:
    """The card form posts here once Stripe.js confirmed the SetupIntent: save the card it set up. A POST, not
    Stripe.js's redirect: saving a card charges the party's unpaid invoices to it, and no GET moves money."""
    _refuse_viewers(request)
    form = CardAddedForm(request.POST)
    if not form.is_valid():
        raise Http404
    try:
        method = card_setup_complete(party=request.membership.party, setup_intent_id=form.cleaned_data["setup_intent"])
    except PaymentRefused as refused:
        messages.error(request, str(refused))
    except (stripe_api.PaymentRequestInvalid, stripe_api.PaymentDeclined) as error:
        messages.error(request, error.message)
    except stripe_api.StripeUnavailable:
        messages.error(request, UNAVAILABLE)
    else:
        messages.success(request, _("%(card)s is saved.") % {"card": method_label(method)})
    return redirect(_url(request, "payment-methods"))


@party_required
@require_POST
def voucher_method_add(request: HttpRequest) -> HttpResponse:
    _refuse_viewers(request)
    if request.membership.kind != "partner":
        raise Http404
    form = VoucherMethodForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose PIX or Boleto."))
    else:
        try:
            method = voucher_method_save(party=request.membership.party, kind=form.cleaned_data["kind"])
        except PaymentRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, _("%(method)s is saved as a way to pay.") % {"method": method_label(method)})
    return redirect(_url(request, "payment-methods"))


@party_required
@require_POST
def methods_reorder(request: HttpRequest) -> HttpResponse:
    _refuse_viewers(request)
    party = request.membership.party
    form = MethodsOrderForm(request.POST, current_ids=list(methods_of(party).values_list("pk", flat=True)))
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors() + form.errors.get("order", [])))
    else:
        try:
            payment_methods_reorder(party=party, method_ids=form.cleaned_data["method_ids"])
        except PaymentRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, _("The order of your payment methods is saved."))
    return redirect(_url(request, "payment-methods"))


@party_required
@require_POST
def method_remove(request: HttpRequest, method_id: int) -> HttpResponse:
    _refuse_viewers(request)
    method = get_object_or_404(methods_of(request.membership.party), pk=method_id)
    try:
        payment_method_remove(method=method)
    except (stripe_api.StripeUnavailable, stripe_api.PaymentRequestInvalid):
        messages.error(request, UNAVAILABLE_UNCHANGED)
    else:
        messages.success(request, _("%(method)s is removed.") % {"method": method_label(method)})
    return redirect(_url(request, "payment-methods"))

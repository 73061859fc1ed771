"""Client Hub funds: a hub's balance, adding funds by card, auto-renewal and monthly prepayment settings, the ledger,
charts of the month, and usage this month by WABA, number, category and market."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from billing.balance_alerts import balance_alerts_update
from billing.credit_settings import CreditSettingsError, credit_settings_update
from billing.forecast import forecasts_for
from billing.invoicing.prepayments import PrepaymentError
from billing.payments.topup_requests import TopupKeyReused, topup_request
from billing.selectors import clients as selectors
from billing.selectors.reconciliations import hub_reconciliations, reconciliation_month
from clients.forms import AddFundsForm, AutoRenewalForm, BalanceAlertsForm, MonthlyPrepaymentForm
from core import clock
from portal.scope import client_required
from portal.templatetags.portal import money


def _funds_url(hub) -> str:
    return f"{reverse('client:funds')}?hub={hub.hub_id}"


def _manager_hub(request):
    """The hub a settings or money POST is about, inside the client; viewers may not move money or change settings."""
    if not request.membership.can_manage:
        raise PermissionDenied
    return selectors.hub_of_client(client=request.membership.party, hub_id=request.POST.get("hub"))


def _render(request, hub, *, status: int = 200, **forms):
    client, account = request.membership.party, hub.credit_account
    month = clock.month_start(clock.now())
    days = selectors.month_days(month, clock.now().date())
    initial = {"hub": hub.hub_id}
    if request.membership.can_manage:
        forms.setdefault("add_form", AddFundsForm(hub_id=hub.hub_id))
        forms.setdefault("renewal_form", AutoRenewalForm(initial={
            **initial, "auto_renew": account.auto_renew, "auto_renew_threshold": account.auto_renew_threshold,
            "auto_renew_amount": account.auto_renew_amount,
        }))  # fmt: skip
        forms.setdefault("prepayment_form", MonthlyPrepaymentForm(initial={
            **initial, "monthly_prepayment": account.monthly_prepayment or "0.00",
        }))  # fmt: skip
        forms.setdefault("alerts_form", BalanceAlertsForm(initial={
            **initial, "low_balance_alert": account.low_balance_alert, "run_out_alert": account.run_out_alert,
        }))  # fmt: skip
    context = {
        "hub": hub,
        "account": account,
        "hubs": selectors.client_hubs(client=client),
        "has_card": selectors.client_has_card(client=client),
        "restriction_notices": selectors.restriction_notices(client=client, hub_ids=[hub.id]),
        "usage_this_month": selectors.usage_this_month(hub_ids=[hub.id], month=month)[hub.id],
        "forecast": forecasts_for(hubs=[hub])[hub.id],
        "ledger": selectors.ledger_page(account=account, page=request.GET.get("page", 1)),
        "month": month,
        "balance_chart": selectors.balance_chart(
            selectors.daily_balances(account=account, month=month),
            opening=selectors.opening_balance(account=account, month=month),
        ),
        "usage_chart": selectors.usage_chart(days, selectors.daily_usage(hub=hub, month=month)),
        "breakdown": selectors.usage_breakdown(hub=hub, month=month),
        "reconciled_month": (reconciled := reconciliation_month(request.GET.get("reconciled"), default=month)),
        "reconciliations": hub_reconciliations(hub=hub, month=reconciled),
        **forms,
    }
    return render(request, "clients/funds.html", context, status=status)


@client_required
@require_GET
def funds(request):
    hub = selectors.hub_of_client(client=request.membership.party, hub_id=request.GET.get("hub"))
    return _render(request, hub)


@client_required
@require_POST
def funds_add(request):
    hub = _manager_hub(request)
    form = AddFundsForm(request.POST, hub_id=hub.hub_id)
    if not form.is_valid():
        return _render(request, hub, status=400, add_form=form)
    try:
        outcome = topup_request(
            hub=hub, amount=form.cleaned_data["amount"], request_key=f"manual:{form.cleaned_data['request_key']}",
            payer_present=True,
        )  # fmt: skip
    except PrepaymentError as error:
        form.add_error("amount", str(error))
        return _render(request, hub, status=400, add_form=form)
    except TopupKeyReused as reused:
        # The form was sent before with another amount (the page re-sent after editing it): that top-up is what was
        # charged. A fresh form (new token) lets the client add the new amount as a request of its own.
        messages.error(request, _(
            "This form was already sent to add %(amount)s (invoice %(number)s); nothing more was charged. To add "
            "another amount, enter it in this new form."
        ) % {"amount": money(reused.invoice.net_amount, hub.currency), "number": reused.invoice.number})  # fmt: skip
        return redirect(_funds_url(hub))
    if outcome.state == "unavailable":
        messages.error(request, _(
            "Stripe cannot be reached just now, so invoice %(number)s (%(amount)s) is not charged yet. It is charged "
            "to your card automatically once Stripe answers again, or send this form again: it is never charged twice."
        ) % {"number": outcome.invoice.number, "amount": money(outcome.funds, hub.currency)})  # fmt: skip
        return _render(request, hub, status=503, add_form=form)
    _tell(request, hub, outcome)
    if outcome.state == "requires_action":
        return redirect("client:invoice-pay", outcome.invoice.number)
    return redirect(_funds_url(hub))


def _tell(request, hub, outcome) -> None:
    """The page's words for a top-up's outcome; the amounts are the invoice's, i.e. what was really charged."""
    if outcome.state == "paid":
        messages.success(request, _("%(amount)s added to your credit balance (invoice %(number)s, paid).") % {
            "amount": money(outcome.funds, hub.currency), "number": outcome.invoice.number})  # fmt: skip
    elif outcome.state == "no_card":
        messages.error(request, _("No card is saved to charge: add a card under Payment methods, then add funds."))
    elif outcome.state == "failed":
        messages.error(request, _("The payment failed: %(reason)s") % {"reason": outcome.message})
    elif outcome.state != "requires_action":
        messages.info(request, _("The payment of invoice %(number)s is being processed; the funds are added when it "
                                 "clears.") % {"number": outcome.invoice.number})  # fmt: skip


@client_required
@require_POST
def auto_renewal(request):
    hub = _manager_hub(request)
    form = AutoRenewalForm(request.POST)
    if not form.is_valid():
        return _render(request, hub, status=400, renewal_form=form)
    data = form.cleaned_data
    try:
        credit_settings_update(
            account=hub.credit_account, auto_renew=data["auto_renew"],
            auto_renew_threshold=data["auto_renew_threshold"], auto_renew_amount=data["auto_renew_amount"],
        )  # fmt: skip
    except CreditSettingsError as error:
        form.add_error(None, str(error))
        return _render(request, hub, status=400, renewal_form=form)
    messages.success(request, _("Auto-renewal saved."))
    return redirect(_funds_url(hub))


@client_required
@require_POST
def monthly_prepayment(request):
    hub = _manager_hub(request)
    form = MonthlyPrepaymentForm(request.POST)
    if not form.is_valid():
        return _render(request, hub, status=400, prepayment_form=form)
    amount = form.cleaned_data["monthly_prepayment"]
    try:
        credit_settings_update(account=hub.credit_account, monthly_prepayment=amount)
    except CreditSettingsError as error:
        form.add_error(None, str(error))
        return _render(request, hub, status=400, prepayment_form=form)
    if amount:
        messages.success(request, _("Monthly prepayment set to %(amount)s.") % {"amount": money(amount, hub.currency)})
    else:
        messages.success(request, _("Monthly prepayment turned off."))
    return redirect(_funds_url(hub))


@client_required
@require_POST
def balance_alerts(request):
    hub = _manager_hub(request)
    form = BalanceAlertsForm(request.POST)
    if not form.is_valid():
        return _render(request, hub, status=400, alerts_form=form)
    data = form.cleaned_data
    balance_alerts_update(
        account=hub.credit_account, low_balance_alert=data["low_balance_alert"], run_out_alert=data["run_out_alert"]
    )
    messages.success(request, _("Balance alerts saved."))
    return redirect(_funds_url(hub))

"""The forms staff fill in before an action runs (a reason always; an amount, a reference, a date where needed), and
the intermediate page that shows them. Each form carries a token rendered with it: the action's idempotency key is
that token and the row acted on, so submitting the same form twice acts once."""

import uuid
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from billing.models import InvoiceKind
from billing.staff_actions import ISSUABLE_KINDS, STAFF_ACTION_ERRORS
from hub.models import Hub
from partners.models import Partner

TEMPLATE = "admin/billing/staff_action.html"


class StaffActionForm(forms.Form):
    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Why: kept in the staff audit log with your name."),
    )  # fmt: skip

    def key(self, target_pk=None) -> str:
        token = self.cleaned_data["token"]
        return token if target_pk is None else f"{token}:{target_pk}"


class MarkPaidForm(StaffActionForm):
    reference = forms.CharField(label=_("Bank transfer reference"), max_length=150)


class RefundForm(StaffActionForm):
    amount = forms.DecimalField(
        label=_("Amount"), required=False, min_value=0, decimal_places=2, max_digits=12,
        help_text=_("Leave empty to refund everything that is left."),
    )  # fmt: skip


class AdjustmentForm(StaffActionForm):
    amount = forms.DecimalField(
        label=_("Amount"), decimal_places=2, max_digits=12,
        help_text=_("Added to the credit balance; negative to take off. Counts in the month's Usage Reconciliation."),
    )  # fmt: skip

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("An adjustment cannot be zero."))
        return amount


class RestrictionLiftForm(StaffActionForm):
    hold_until = forms.DateTimeField(
        label=_("Hold until"), required=False, help_text=_("Empty: 72 hours. Until then the block is not restarted."),
    )  # fmt: skip


class ReconciliationForm(StaffActionForm):
    report = forms.CharField(
        label=_("Meta's daily cost report (CSV)"), widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text=_("Header date,waba_id,currency,cost; one line per WABA and day."),
    )  # fmt: skip


class IssueNowForm(StaffActionForm):
    kind = forms.ChoiceField(label=_("Invoice"), choices=[(k, InvoiceKind(k).label) for k in ISSUABLE_KINDS])
    month = forms.DateField(label=_("Month"), help_text=_("Any day of the month billed (YYYY-MM-DD)."))
    hub = forms.ModelChoiceField(
        label=_("Hub"), queryset=Hub.objects.order_by("hub_id"), required=False,
        help_text=_("For a License or Month Closing Invoice."),
    )  # fmt: skip
    partner = forms.ModelChoiceField(
        label=_("Partner"), queryset=Partner.objects.order_by("name"), required=False,
        help_text=_("For a Partner Plan invoice."),
    )  # fmt: skip

    def clean(self):
        data = super().clean()
        kind, hub, partner = data.get("kind"), data.get("hub"), data.get("partner")
        if kind == InvoiceKind.PARTNER_PLAN and (partner is None or hub is not None):
            raise forms.ValidationError(_("A Partner Plan invoice is issued to a partner: choose a partner only."))
        if kind and kind != InvoiceKind.PARTNER_PLAN and (hub is None or partner is not None):
            raise forms.ValidationError(_("This invoice is issued to a hub: choose a hub only."))
        return data


def new_form(form_class: type[StaffActionForm], request) -> StaffActionForm:
    """Bound to the POST when staff applied it; otherwise empty, with a fresh token."""
    if "apply" in request.POST:
        return form_class(request.POST)
    return form_class(initial={"token": uuid.uuid4().hex})


class StaffActionsMixin:
    """Admin actions that call billing/staff_actions.py. Running one needs the permission to add a staff action
    (superusers have it); `permissions=["staff_action"]` on an action hides it from everyone else."""

    def has_staff_action_permission(self, request) -> bool:
        return request.user.has_perm("billing.add_staffaction")

    def changelist_view(self, request, extra_context=None):
        """The list's template shows its staff buttons (Issue now, Post a reconciliation) only to who may use them."""
        extra = {"has_staff_action_permission": self.has_staff_action_permission(request)} | (extra_context or {})
        return super().changelist_view(request, extra)

    def staff_action_page(
        self, request, queryset, *, form_class: type[StaffActionForm], title: str,
        perform: Callable[[object, StaffActionForm], str], single: bool = False,
    ):  # fmt: skip
        """An admin action's intermediate page: ask for the form; once it is valid, `perform` each selected row
        (it returns the message to show) and go back to the list. A refused row shows why; others go on."""
        if single and queryset.count() != 1:
            self.message_user(request, _("Select exactly one row for this action."), messages.ERROR)
            return None
        form = new_form(form_class, request)
        if form.is_bound and form.is_valid():
            for obj in queryset:
                self._perform(request, obj, form, perform)
            return None
        context = {
            **self.admin_site.each_context(request), "title": title, "form": form, "objects": list(queryset),
            "opts": self.model._meta, "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME), "select_across": request.POST.get("select_across"),
        }  # fmt: skip
        return TemplateResponse(request, TEMPLATE, context)

    def _perform(self, request, obj, form, perform) -> bool:
        try:
            message = perform(obj, form)
        except STAFF_ACTION_ERRORS as refused:
            self.message_user(request, f"{obj}: {refused}", messages.ERROR)
            return False
        self.message_user(request, f"{obj}: {message}", messages.SUCCESS)
        return True

    def staff_view(self, request, *, form_class: type[StaffActionForm], title: str, perform: Callable):
        """A staff action that is not about selected rows (issue now, post a reconciliation): its own page."""
        if not self.has_staff_action_permission(request):
            raise PermissionDenied
        form = new_form(form_class, request)
        if request.method == "POST" and form.is_bound and form.is_valid():
            try:
                message = perform(form)
            except STAFF_ACTION_ERRORS as refused:
                form.add_error(None, str(refused))
            else:
                self.message_user(request, message, messages.SUCCESS)
                opts = self.model._meta
                return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        context = {**self.admin_site.each_context(request), "title": title, "form": form, "opts": self.model._meta}
        return TemplateResponse(request, TEMPLATE, context)

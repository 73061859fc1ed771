"""Sign-in landing and personal preferences (Client Hub: clients/views, Partner Hub: partners/views)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from portal.models import TIMEZONE_CHOICES, UserProfile
from portal.scope import membership_of


def home(request):
    """Sends each person to their own hub: client → Client Hub, partner → Partner Hub, staff → admin."""
    if not request.user.is_authenticated:
        return redirect("login")
    membership = membership_of(request.user)
    if membership is not None:
        return redirect(f"{membership.kind}:overview")
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "portal/no_party.html", status=403)


class PreferencesForm(forms.Form):
    timezone = forms.ChoiceField(label=_("Timezone"), choices=TIMEZONE_CHOICES)


@login_required
def preferences(request):
    profile, _created = UserProfile.objects.get_or_create(user=request.user)
    form = PreferencesForm(request.POST or None, initial={"timezone": profile.timezone})
    if request.method == "POST" and form.is_valid():
        profile.timezone = form.cleaned_data["timezone"]
        profile.save(update_fields=["timezone"])
        messages.success(request, _("Preferences saved. Dates are now shown in %(tz)s.") % {"tz": profile.timezone})
        return redirect("preferences")
    return render(request, "portal/preferences.html", {"form": form})

"""Sign-in landing and personal preferences (Client Hub: clients/views, Partner Hub: partners/views)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from portal.middleware import person_language, supported_language
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


def language_choices() -> list[tuple[str, str]]:
    return [("", _("The browser's language (else the company's)")), *settings.LANGUAGES]


class PreferencesForm(forms.Form):
    timezone = forms.ChoiceField(label=_("Timezone"), choices=TIMEZONE_CHOICES)
    language = forms.ChoiceField(label=_("Language"), choices=language_choices, required=False)


@login_required
def preferences(request):
    profile, _created = UserProfile.objects.get_or_create(user=request.user)
    initial = {"timezone": profile.timezone, "language": profile.language}
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        profile.timezone = form.cleaned_data["timezone"]
        profile.language = form.cleaned_data["language"]
        profile.save(update_fields=["timezone", "language"])
        response = redirect("preferences")
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)  # the saved choice decides from now on
        with translation.override(person_language_after_save(request, profile)):
            saved = translation.gettext("Preferences saved. Dates are now shown in %(tz)s.")
            messages.success(request, saved % {"tz": profile.timezone})
        return response
    return render(request, "portal/preferences.html", {"form": form})


def person_language_after_save(request, profile: UserProfile) -> str:
    """The language the next page will be in, so the confirmation reads in it."""
    request.user.profile = profile
    request.COOKIES.pop(settings.LANGUAGE_COOKIE_NAME, None)
    return person_language(request)


@require_POST
def language_switch(request):
    """The footer's language switch, signed in or not (sign-in and password-reset pages too). Signed out it is
    remembered in a cookie; signed in it is saved in the person's Preferences as well."""
    language = supported_language(request.POST.get("language"))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = reverse("home")
    response = redirect(target)
    if language is None:
        return response
    if request.user.is_authenticated:
        UserProfile.objects.update_or_create(user=request.user, defaults={"language": language})
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE, samesite="Lax",
        secure=request.is_secure(),
    )  # fmt: skip
    return response

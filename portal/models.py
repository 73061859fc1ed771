import zoneinfo

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

TIMEZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class UserProfile(models.Model):
    """Per-person display preferences: dates are shown in this timezone on every page, in this language (empty:
    the browser's, else the party's; portal/middleware.py)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    timezone = models.CharField(_("timezone"), max_length=64, choices=TIMEZONE_CHOICES, default="UTC")
    language = models.CharField(_("language"), max_length=10, blank=True, choices=settings.LANGUAGES)

    def __str__(self) -> str:
        return f"{self.user} ({self.timezone})"

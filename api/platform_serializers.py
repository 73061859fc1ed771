"""Request and response shapes of the messaging platform's endpoints.

Only the envelope of a usage batch is validated here (an object with a list of at most 1,000 items): the events
themselves are validated by the usage service, which gives each rejected event its index and reason. Running a
DRF serializer over 1,000 events would cost more than recording them. The event serializer below documents the
format in the schema.
"""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from billing.models import Category


class EventListField(serializers.Field):
    """A JSON array of at least one and at most USAGE_MAX_BATCH items, passed on as it is (no per-item work)."""

    default_error_messages = {
        "not_a_list": _("Expected a list of events."),
        "empty": _("Send at least one event."),
        "too_many": _("A batch holds at most {max_batch} events, got {count}."),
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        if len(data) > settings.USAGE_MAX_BATCH:
            self.fail("too_many", max_batch=settings.USAGE_MAX_BATCH, count=len(data))
        return data

    def to_representation(self, value):
        return value


class UsageEventsEnvelopeSerializer(serializers.Serializer):
    events = EventListField()


class UsageEventSerializer(serializers.Serializer):
    """One message status event, as `manage.py import_usage` reads them (for the schema)."""

    message_id = serializers.CharField(max_length=128, help_text=_("Meta's message id (wamid); recorded once."))
    waba_id = serializers.RegexField(r"^[0-9]+$", help_text=_("Meta's WABA id."))
    phone_number = serializers.CharField(help_text=_("The sending number in E.164, e.g. +4915112345678."))
    recipient_country = serializers.CharField(
        min_length=2, max_length=2, help_text=_("ISO 3166-1 alpha-2 code of the recipient.")
    )
    category = serializers.ChoiceField(choices=Category.choices)
    billable = serializers.BooleanField()
    pricing_model = serializers.ChoiceField(choices=[("PMP", "PMP")], required=False, default="PMP")
    timestamp = serializers.CharField(help_text=_("When it was sent: ISO 8601 with an offset, or Unix seconds."))


class UsageEventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(child=UsageEventSerializer(), min_length=1, max_length=settings.USAGE_MAX_BATCH)


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("Position of the event in the batch, from 0."))
    reason = serializers.CharField()


class UsageEventsResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text=_("Events recorded now."))
    duplicates = serializers.IntegerField(help_text=_("Events recorded before (or twice in the batch): skipped."))
    rejected = serializers.IntegerField(help_text=_("Events refused; see rejections."))
    rejections = RejectionSerializer(many=True)


class SendPermissionReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    detail = serializers.CharField()
    since = serializers.DateTimeField()


class SendPermissionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reasons = SendPermissionReasonSerializer(many=True, required=False, help_text=_("Only when not allowed."))


class SendPermissionChangeSerializer(serializers.Serializer):
    seq = serializers.IntegerField(required=False, help_text=_("The change's sequence number (changes only)."))
    hub_id = serializers.CharField()
    allowed = serializers.BooleanField()
    reasons = SendPermissionReasonSerializer(many=True, help_text=_("Empty when allowed."))


class SendPermissionFeedSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text=_("Ask `since` this number next time."))
    snapshot = serializers.BooleanField(
        help_text=_(
            "True: `entries` are every hub blocked now (any other hub may send): replace your copy. "
            "False: `entries` are the changes after `since`, in order: apply each hub's latest."
        )
    )
    more = serializers.BooleanField(help_text=_("More changes wait: ask again with `since` = `seq` at once."))
    entries = SendPermissionChangeSerializer(many=True)


class PlatformErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField()


class PlatformErrorSerializer(serializers.Serializer):
    error = PlatformErrorDetailSerializer()

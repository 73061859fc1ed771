"""Creating, revoking and recognising API keys."""

import hashlib
import secrets

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from api.models import ApiKey, ApiKeyKind
from clients.models import Client
from partners.models import Partner

_PREFIX_BY_KIND = {ApiKeyKind.CLIENT: "hpc_", ApiKeyKind.PARTNER: "hpp_", ApiKeyKind.SERVICE: "hps_"}


# The platform's endpoints cache their service-key lookups (api.platform); a revocation leaves a tombstone.
KEY_CACHE = "api-key:{key_hash}"
KEY_SECONDS = 5 * 60  # a safety net: revoking a key invalidates its cached lookup at once
REVOKED = "revoked"  # the tombstone a revocation leaves, so a lookup read just before it is never cached after it
REVOKED_SECONDS = 24 * 60 * 60


def api_key_cache_forget(*, key_hash: str) -> None:
    """Called on commit of a revocation: the key stops working at once, in every web process."""
    cache.set(KEY_CACHE.format(key_hash=key_hash), REVOKED, REVOKED_SECONDS)


def key_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_create(*, name: str, created_by=None, party: Client | Partner | None = None) -> tuple[ApiKey, str]:
    """A new key for the party (a service key when party is None). Returns the row and the key, shown once."""
    if party is None:
        kind = ApiKeyKind.SERVICE
    else:
        kind = ApiKeyKind.PARTNER if isinstance(party, Partner) else ApiKeyKind.CLIENT
    plaintext = _PREFIX_BY_KIND[kind] + secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            kind=kind,
            client=party if kind == ApiKeyKind.CLIENT else None,
            partner=party if kind == ApiKeyKind.PARTNER else None,
            name=name.strip(),
            prefix=plaintext[:12],
            key_hash=key_digest(plaintext),
            created_by=created_by,
        )
    return key, plaintext


def api_key_revoke(*, key: ApiKey, revoked_by=None) -> ApiKey:
    """Revoked keys stop working at once; the row stays for the record. Revoking twice changes nothing."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.revoked_by = revoked_by
            key.save(update_fields=["revoked_at", "revoked_by"])
            transaction.on_commit(lambda: api_key_cache_forget(key_hash=key.key_hash))
    return key


def api_key_find(plaintext: str) -> ApiKey | None:
    """The active key with this text, or None. One indexed lookup."""
    return (
        ApiKey.objects.select_related("client", "partner")
        .filter(key_hash=key_digest(plaintext), revoked_at__isnull=True)
        .first()
    )

"""Throttling per API key, counted in the cache (Redis in production, shared by every web process)."""

import time

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from api.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """A fixed window per key: one counter per key and window, `rate` from DEFAULT_THROTTLE_RATES by the key's kind
    (client, partner, service). DRF's sliding window keeps a list of every request's time, which costs too much at
    the platform's thousands of requests a second; a counter is one `incr`."""

    cache = cache
    cache_format = "throttle:apikey:%(key)s:%(window)s"

    def __init__(self) -> None:  # the rate depends on the request's key, so it is read in allow_request
        pass

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None  # no key: authentication refuses the request anyway
        return str(request.auth.pk)

    def allow_request(self, request, view) -> bool:
        key_id = self.get_cache_key(request, view)
        if key_id is None:
            return True
        self.scope = request.auth.kind
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        now = time.time()
        window = int(now // self.duration)
        self.wait_seconds = (window + 1) * self.duration - now
        counter = self.cache_format % {"key": key_id, "window": window}
        self.cache.add(counter, 0, self.duration + 1)
        try:
            count = self.cache.incr(counter)
        except ValueError:  # expired between add and incr
            self.cache.add(counter, 1, self.duration + 1)
            count = 1
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.wait_seconds, 1)

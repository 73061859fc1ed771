"""Request id and context for the logs, and the request counters of /metrics."""

import time

from ops import context, metrics

HEADER = "X-Request-ID"


class RequestContextMiddleware:
    """Takes the caller's X-Request-ID (or makes one), answers with it, and binds it, with the hub id and invoice
    number the URL names, for every log line of the request. Counts the request for /metrics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = context.request_id_from(request.headers.get(HEADER))
        started = time.monotonic()
        # Set, not reset on the way out: Django logs an error response (django.request) after the middleware has
        # returned; the context is cleared when the request is finished (ops/apps.py) and set anew by the next.
        context.clear()
        context.request_id.set(request.request_id)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        if request.path not in metrics.UNCOUNTED_PATHS:
            metrics.request_count(method=request.method, status=response.status_code,
                                  seconds=time.monotonic() - started)  # fmt: skip
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        """The hub and invoice of the URL (`<hub_id>`, `<number>`), once the URL is resolved."""
        if hub := view_kwargs.get("hub_id"):
            context.hub_id.set(str(hub))
        if number := view_kwargs.get("number"):
            context.invoice_number.set(str(number))
        return None

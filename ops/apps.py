from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What operators run the portal with: /healthz, /metrics, request ids and structured logs."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from ops import celery_signals  # noqa: F401 -- connects the Celery metrics and request-id propagation
        from ops.context import clear

        request_finished.connect(clear, dispatch_uid="ops_context_clear")

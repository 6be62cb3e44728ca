from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "tickwire.alerts"
    label = "alerts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the rule-change receivers)

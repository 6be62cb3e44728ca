from django.apps import AppConfig


class PortfoliosConfig(AppConfig):
    name = "tickwire.portfolios"
    label = "portfolios"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the change-event receivers)

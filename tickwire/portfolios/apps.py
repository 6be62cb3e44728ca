from django.apps import AppConfig


class PortfoliosConfig(AppConfig):
    name = "tickwire.portfolios"
    label = "portfolios"
    default_auto_field = "django.db.models.BigAutoField"

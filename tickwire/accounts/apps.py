from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tickwire.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            signals,  # noqa: F401  (closes live sockets when sessions end)
            throttle,  # noqa: F401  (counts failed sign-ins)
        )

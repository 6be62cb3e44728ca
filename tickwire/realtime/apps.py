from django.apps import AppConfig

from tickwire.stream.control import bind_publisher

from .publishers import publish_once


class RealtimeConfig(AppConfig):
    name = "tickwire.realtime"
    label = "realtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Control messages from processes without a running runtime (management commands,
        # shells) still reach the other nodes; a server's runtime binds its own on start.
        bind_publisher(publish_once)

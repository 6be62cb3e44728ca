"""End a user's live sockets when their credentials stop being valid, on every node.

* Logout: the sockets opened with that browser session (not the user's other sessions or
  API-token sockets, whose credentials are still valid).
* An API token deleted (``DELETE /api/auth/token/`` or the admin): the sockets that
  authenticated with it.
* A user deactivated or deleted: all of the user's sockets.

Each publishes a ``user_control`` message on ``control.user.<id>`` after the database
commit; :class:`tickwire.realtime.sessions.SessionGuard` on each node closes the sockets
with 4003.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from tickwire.stream import control


def _publish(user_id: int, data: dict[str, Any]) -> None:
    control.publish(
        control.user_control_channel(user_id),
        control.USER_CONTROL,
        {"user_id": user_id, **data},
    )


def revoke_credential(user_id: int, credential: str, reason: str) -> None:
    """Close, after commit, every socket of ``user_id`` authenticated by ``credential``."""
    data = {"event": control.CREDENTIAL_REVOKED, "credential": credential, "reason": reason}
    transaction.on_commit(lambda: _publish(user_id, data))


@receiver(user_logged_out, dispatch_uid="tickwire.logout_closes_sockets")
def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None or request is None:
        return
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        revoke_credential(user.pk, control.credential_ref("session", session_key), "logged out")


@receiver(post_delete, sender=Token, dispatch_uid="tickwire.token_deleted")
def _token_deleted(sender: type[Token], instance: Token, **kwargs: Any) -> None:
    revoke_credential(
        instance.user_id, control.credential_ref("token", instance.key), "API token revoked"
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="tickwire.user_disabled")
def _user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        user_id = instance.pk
        transaction.on_commit(lambda: _publish(user_id, {"event": control.USER_DISABLED}))


@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="tickwire.user_deleted")
def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_id = instance.pk
    transaction.on_commit(lambda: _publish(user_id, {"event": control.USER_DISABLED}))

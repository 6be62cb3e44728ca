"""Production: secrets and hosts must come from the environment; demo data never loads."""

from tickwire.env import SettingError, env_bool, env_int

from .base import *  # noqa: F403
from .base import SECRET_KEY

DEBUG = env_bool("DEBUG", False)
if len(SECRET_KEY) < 32:
    raise SettingError("SECRET_KEY", "<hidden>", "a secret of at least 32 characters")
TICKWIRE_DEMO_DATA = False
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
STORAGES = {
    # Hashed, pre-compressed files served by WhiteNoise (or nginx from STATIC_ROOT); the
    # subclass also rewrites ES module imports to the hashed names.
    "staticfiles": {"BACKEND": "tickwire.storage.StaticFilesStorage"},
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
}

"""Test settings: fast hashing, a deterministic simulator, no in-process feed by default."""

from .base import *  # noqa: F403

SECRET_KEY = "tickwire-test-key-0123456789-0123456789"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TICKWIRE_FEED_IN_PROCESS = False
TICKWIRE_SIMULATOR_SEED = 42
TICKWIRE_DEMO_DATA = True
# The tests import the ASGI application in-process, with their own test database.
TICKWIRE_STARTUP_CHECKS = False

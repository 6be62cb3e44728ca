"""The embedded default: one process, memory broker, SQLite, in-process simulated feed."""

from tickwire.env import env_bool, env_str

from .base import *  # noqa: F403

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "") or "tickwire-local-development-key-not-for-production"
TICKWIRE_DEMO_DATA = True
TICKWIRE_MIGRATE_ON_START = True

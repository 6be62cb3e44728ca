"""Settings shared by every environment, read from environment variables.

Seed 003's names are kept: ``REALTIME_UPDATE_INTERVAL``, ``REALTIME_BATCH_SIZE``,
``REALTIME_CACHE_TIMEOUT``, ``WEBSOCKET_TIMEOUT``, ``MAX_CONNECTIONS_PER_USER``,
``MAX_SUBSCRIPTIONS_PER_CONNECTION``. Every value is validated here, so a wrong one stops
the process at start with a message naming it (see :class:`tickwire.env.SettingError`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from tickwire.env import (
    SettingError,
    StartupError,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_origins,
    env_str,
    load_dotenv,
    tickwire_home,
)
from tickwire.extras import MissingExtra, missing
from tickwire.logconfig import logging_config
from tickwire.realtime.access import networks
from tickwire.stream.feeds.registry import SOURCES, options_from_env
from tickwire.stream.feeds.routes import RouteConfigError, load_routes_text, parse_routes

# Where the package's code, templates and static files are: a checkout or site-packages.
BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Where this installation's data and configuration live (the SQLite database, `.env`,
# collected static files): the checkout when run from one, else TICKWIRE_HOME or the
# user's data directory — never inside the installed package.
TICKWIRE_HOME = tickwire_home()
load_dotenv(TICKWIRE_HOME / ".env")
try:
    TICKWIRE_HOME.mkdir(parents=True, exist_ok=True)
except OSError as _exc:
    raise SettingError(
        "TICKWIRE_HOME", str(TICKWIRE_HOME), f"a directory this user can create ({_exc.strerror})"
    ) from None

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# --- WebSocket origins ----------------------------------------------------------------------
# Pages on other origins (scheme://host:port, matched exactly) that may open the WebSocket
# with the user's cookies; a page's own origin (its host in ALLOWED_HOSTS) always may.
TICKWIRE_ALLOWED_ORIGINS = env_origins("TICKWIRE_ALLOWED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tickwire.accounts",
    "tickwire.assets",
    "tickwire.portfolios",
    "tickwire.alerts",
    "tickwire.realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A database that cannot be reached: 503 with Retry-After (tickwire/faults.py).
    "tickwire.faults.DatabaseUnavailableMiddleware",
    # Sign-in attempts over their failure limits: 429 (tickwire/accounts/throttle.py).
    "tickwire.accounts.throttle.LoginThrottleMiddleware",
    # Content-Security-Policy on HTML pages (tickwire/csp.py).
    "tickwire.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tickwire.urls"
ASGI_APPLICATION = "tickwire.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "tickwire" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{TICKWIRE_HOME / 'db.sqlite3'}")
_db_scheme = urlsplit(DATABASE_URL).scheme
if _db_scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
    raise SettingError("DATABASE_URL", DATABASE_URL, "a sqlite:/// or postgres:// URL")
if _db_scheme != "sqlite" and (_absent := missing("postgres")):
    raise StartupError(str(MissingExtra("a postgres:// DATABASE_URL", "postgres", _absent)))
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if _db_scheme == "sqlite":
    # WAL lets the feed's batched writes and the API's reads proceed side by side.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Where `tickwire manage collectstatic` puts files for WhiteNoise (or nginx) to serve;
# without it (the embedded default) WhiteNoise serves straight from the package.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(TICKWIRE_HOME / "staticfiles")))
WHITENOISE_USE_FINDERS = True
if not STATIC_ROOT.is_dir():
    # Expected before `collectstatic` has run: not worth a warning on every start.
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")
STATICFILES_DIRS = [BASE_DIR / "tickwire" / "static"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

REST_FRAMEWORK = {
    # Programs send "Authorization: Token <key>"; the browser uses its session (with CSRF).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # An unreachable database is 503 with Retry-After, not 500 (tickwire/faults.py).
    "EXCEPTION_HANDLER": "tickwire.faults.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tickwire API",
    "DESCRIPTION": "Assets, portfolios and positions. Live updates stream over the "
    "WebSocket at /ws/realtime/ (see docs/protocol.md).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package: the docs page works without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- real-time (seed 003 names) -----------------------------------------------------------
REALTIME_UPDATE_INTERVAL = env_float("REALTIME_UPDATE_INTERVAL", 1.0, minimum=0.001, maximum=86400)
REALTIME_BATCH_SIZE = env_int("REALTIME_BATCH_SIZE", 50, minimum=1, maximum=100_000)
REALTIME_CACHE_TIMEOUT = env_int("REALTIME_CACHE_TIMEOUT", 300, minimum=0)
WEBSOCKET_TIMEOUT = env_float("WEBSOCKET_TIMEOUT", 300, minimum=1)
MAX_CONNECTIONS_PER_USER = env_int("MAX_CONNECTIONS_PER_USER", 5, minimum=1)
MAX_SUBSCRIPTIONS_PER_CONNECTION = env_int("MAX_SUBSCRIPTIONS_PER_CONNECTION", 50, minimum=1)

# --- Tickwire ------------------------------------------------------------------------------
TICKWIRE_BROKER_URL = env_str("TICKWIRE_BROKER_URL", "memory://")
if urlsplit(TICKWIRE_BROKER_URL).scheme not in {"memory", "redis", "rediss", "unix"}:
    raise SettingError(
        "TICKWIRE_BROKER_URL", TICKWIRE_BROKER_URL, "memory:// or redis://host:port/db"
    )
if not TICKWIRE_BROKER_URL.startswith("memory:") and (_absent := missing("redis")):
    raise StartupError(str(MissingExtra("a Redis TICKWIRE_BROKER_URL", "redis", _absent)))
# Run the price feed inside the server process. Defaults to on with the memory broker (the
# embedded default) and off with Redis, where `tickwire feed` runs it.
TICKWIRE_FEED_IN_PROCESS = env_bool(
    "TICKWIRE_FEED_IN_PROCESS", TICKWIRE_BROKER_URL.startswith("memory:")
)
TICKWIRE_FEED_SOURCE = env_str("TICKWIRE_FEED_SOURCE", "simulator")
if TICKWIRE_FEED_SOURCE not in SOURCES:
    raise SettingError("TICKWIRE_FEED_SOURCE", TICKWIRE_FEED_SOURCE, f"one of {', '.join(SOURCES)}")
# Options of the data source (URL, key, symbol map, ...; docs/sources.md), read from
# TICKWIRE_FEED_<OPTION> variables; a settings module may assign a dict instead.
TICKWIRE_FEED_OPTIONS: dict[str, object] = dict(options_from_env(os.environ))
# Several sources at once, with routing and failover (docs/sources.md, "Several sources at
# once"): JSON, or the path of a .json or .toml file. A settings module may assign the list
# (or dict) itself. Unset: the one source above serves every asset.
_routes = env_str("TICKWIRE_FEED_SOURCES", "").strip()
try:
    TICKWIRE_FEED_SOURCES: object = load_routes_text(_routes) if _routes else None
    if TICKWIRE_FEED_SOURCES is not None:
        parse_routes(TICKWIRE_FEED_SOURCES)
except RouteConfigError as exc:
    # The message names the setting, the entry and the field already.
    raise StartupError(str(exc)) from None
_seed = env_str("TICKWIRE_SIMULATOR_SEED", "")
try:
    TICKWIRE_SIMULATOR_SEED: int | None = int(_seed) if _seed else None
except ValueError:
    raise SettingError("TICKWIRE_SIMULATOR_SEED", _seed, "an integer") from None
# How often the feed writes latest prices to the database (batched, never per tick).
TICKWIRE_PERSIST_INTERVAL = env_float("TICKWIRE_PERSIST_INTERVAL", 5.0, minimum=0.1)
# The feed counts as stale (health answers 503) when no tick was published for this long.
TICKWIRE_FEED_STALE_SECONDS = env_float(
    "TICKWIRE_FEED_STALE_SECONDS", max(10.0, 3 * REALTIME_UPDATE_INTERVAL), minimum=0.1
)
# Policy limits of the WebSocket endpoint (documented in docs/protocol.md).
TICKWIRE_MAX_MESSAGE_BYTES = env_int("TICKWIRE_MAX_MESSAGE_BYTES", 65536, minimum=256)
# Must exceed TICKWIRE_HISTORY_SIZE: a resume replays up to that many updates at once.
TICKWIRE_OUTBOX_LIMIT = env_int("TICKWIRE_OUTBOX_LIMIT", 4096, minimum=8)
TICKWIRE_SLOW_CLIENT_SECONDS = env_float("TICKWIRE_SLOW_CLIENT_SECONDS", 10.0, minimum=0.1)
# Batching clients (configure {"batch": true}) get one array frame per channel per interval.
TICKWIRE_BATCH_INTERVAL = env_float("TICKWIRE_BATCH_INTERVAL", 0.02, minimum=0.001, maximum=1.0)
TICKWIRE_HISTORY_SIZE = env_int("TICKWIRE_HISTORY_SIZE", 1000, minimum=0)
if TICKWIRE_OUTBOX_LIMIT <= TICKWIRE_HISTORY_SIZE:
    raise SettingError(
        "TICKWIRE_OUTBOX_LIMIT",
        str(TICKWIRE_OUTBOX_LIMIT),
        f"more than TICKWIRE_HISTORY_SIZE ({TICKWIRE_HISTORY_SIZE}): a resume replays up to "
        "that many updates at once",
    )
# Updates older than this are not replayed to a resuming client (history bound by age).
TICKWIRE_HISTORY_TTL = env_float("TICKWIRE_HISTORY_TTL", 3600.0, minimum=1.0)
# --- scaled out (Redis) --------------------------------------------------------------------
# Every Redis key and pub/sub channel starts with this (several deployments, one Redis).
TICKWIRE_REDIS_PREFIX = env_str("TICKWIRE_REDIS_PREFIX", "tickwire")
if not TICKWIRE_REDIS_PREFIX or any(c.isspace() for c in TICKWIRE_REDIS_PREFIX):
    raise SettingError(
        "TICKWIRE_REDIS_PREFIX", TICKWIRE_REDIS_PREFIX, "a non-empty word without spaces"
    )
# How often each node (and feed process) refreshes its heartbeat in Redis, and how long
# after its last one it counts as dead: its connections stop counting toward
# MAX_CONNECTIONS_PER_USER and it leaves /realtime/status/.
TICKWIRE_NODE_HEARTBEAT_SECONDS = env_float(
    "TICKWIRE_NODE_HEARTBEAT_SECONDS", 2.0, minimum=0.05, maximum=3600
)
TICKWIRE_NODE_TIMEOUT_SECONDS = env_float(
    "TICKWIRE_NODE_TIMEOUT_SECONDS", 5 * TICKWIRE_NODE_HEARTBEAT_SECONDS, minimum=0.1
)
if TICKWIRE_NODE_TIMEOUT_SECONDS <= TICKWIRE_NODE_HEARTBEAT_SECONDS:
    raise SettingError(
        "TICKWIRE_NODE_TIMEOUT_SECONDS",
        str(TICKWIRE_NODE_TIMEOUT_SECONDS),
        f"more than TICKWIRE_NODE_HEARTBEAT_SECONDS ({TICKWIRE_NODE_HEARTBEAT_SECONDS:g})",
    )
TICKWIRE_RATE_LIMIT_PER_SECOND = env_float("TICKWIRE_RATE_LIMIT_PER_SECOND", 50, minimum=1)
TICKWIRE_RATE_LIMIT_BURST = env_int("TICKWIRE_RATE_LIMIT_BURST", 200, minimum=1)
# --- bounds on what one WebSocket client can make the server hold -------------------------
# (docs/protocol.md, "Bounds"; applied by the direct-write front end, realtime/bounds.py)
# The transport's write buffer pauses at this many bytes and the kernel's send buffer is
# set to it; while it is full the connection's reading stops too (no pongs pile up).
TICKWIRE_SEND_BUFFER_BYTES = env_int(
    "TICKWIRE_SEND_BUFFER_BYTES", 256 * 1024, minimum=4096, maximum=64 * 1024 * 1024
)
# Bytes per second read from one connection (frames of every kind); past it, reading pauses.
TICKWIRE_READ_BYTES_PER_SECOND = env_int(
    "TICKWIRE_READ_BYTES_PER_SECOND", 1024 * 1024, minimum=1024
)
# Messages read but not yet handled; a client that packs more into one read is closed (1008).
TICKWIRE_RECEIVE_QUEUE_LIMIT = env_int("TICKWIRE_RECEIVE_QUEUE_LIMIT", 1024, minimum=16)
# Portfolio values are recomputed on every tick of a holding but published at most once
# per this many seconds per portfolio (0 = every tick). Position edits publish at once.
TICKWIRE_PORTFOLIO_THROTTLE_SECONDS = env_float(
    "TICKWIRE_PORTFOLIO_THROTTLE_SECONDS", 1.0, minimum=0, maximum=3600
)
# How often open session-authenticated sockets are checked against the session store; a
# socket whose session expired (or was deleted) is closed with 4003.
TICKWIRE_SESSION_CHECK_SECONDS = env_float(
    "TICKWIRE_SESSION_CHECK_SECONDS", 60.0, minimum=0.1, maximum=86400
)
# --- alerts (docs/alerts.md) -----------------------------------------------------------------
# Evaluate alert rules in the feed process (the embedded server's feed, or `tickwire feed`).
TICKWIRE_ALERTS_ENABLED = env_bool("TICKWIRE_ALERTS_ENABLED", True)
# Rules one user may have.
TICKWIRE_ALERT_RULES_PER_USER = env_int("TICKWIRE_ALERT_RULES_PER_USER", 100, minimum=1)
# The evaluator saves a rule's state at once when its armed/fired state changes; the rest
# (last value, move/deviation windows) at most this often, and when it stops.
TICKWIRE_ALERT_STATE_SAVE_SECONDS = env_float(
    "TICKWIRE_ALERT_STATE_SAVE_SECONDS", 5.0, minimum=0.1, maximum=3600
)
# Email and webhook deliveries: the time one attempt may take, the first retry delay
# (doubled each time, with jitter, up to the maximum), and for how long a delivery is
# retried before it is marked failed.
TICKWIRE_ALERT_DELIVERY_TIMEOUT = env_float(
    "TICKWIRE_ALERT_DELIVERY_TIMEOUT", 10.0, minimum=0.1, maximum=300
)
TICKWIRE_ALERT_RETRY_BASE_SECONDS = env_float(
    "TICKWIRE_ALERT_RETRY_BASE_SECONDS", 2.0, minimum=0.01, maximum=3600
)
TICKWIRE_ALERT_RETRY_MAX_SECONDS = env_float(
    "TICKWIRE_ALERT_RETRY_MAX_SECONDS", 300.0, minimum=0.01, maximum=86400
)
TICKWIRE_ALERT_RETRY_FOR_SECONDS = env_float(
    "TICKWIRE_ALERT_RETRY_FOR_SECONDS", 24 * 3600.0, minimum=0, maximum=30 * 86400
)
# Email through Django's email backend (SMTP unless EMAIL_BACKEND says otherwise).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = TICKWIRE_ALERT_DELIVERY_TIMEOUT
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tickwire@localhost")
# --- sign-in throttling (tickwire/accounts/throttle.py) -------------------------------------
# Failed sign-ins (login page, admin, /api/auth/token/) allowed per account and per client
# address in each window; past either, sign-in answers 429 with Retry-After until it ends.
TICKWIRE_LOGIN_FAILURES_PER_ACCOUNT = env_int("TICKWIRE_LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
TICKWIRE_LOGIN_FAILURES_PER_ADDRESS = env_int("TICKWIRE_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
TICKWIRE_LOGIN_WINDOW_SECONDS = env_int(
    "TICKWIRE_LOGIN_WINDOW_SECONDS", 300, minimum=1, maximum=86400
)
# The counts live in Django's cache: scaled out (a Redis broker) in that Redis, so every
# node sees the same failures; otherwise in this process's memory.
if urlsplit(TICKWIRE_BROKER_URL).scheme in {"redis", "rediss", "unix"}:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TICKWIRE_BROKER_URL,
            "KEY_PREFIX": TICKWIRE_REDIS_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# --- Content-Security-Policy (tickwire/csp.py) --------------------------------------------
# The policy sent with every HTML page; empty sends none.
# Scripts and styles from this server only (no inline ones), the WebSocket to this server
# ('self' covers ws:/wss: to the same host and port), charts on a canvas.
TICKWIRE_CONTENT_SECURITY_POLICY = env_str(
    "TICKWIRE_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)
# --- faults ----------------------------------------------------------------------------------
# Retry-After (seconds) on a 503 while the database cannot be reached.
TICKWIRE_RETRY_AFTER_SECONDS = env_int("TICKWIRE_RETRY_AFTER_SECONDS", 5, minimum=1, maximum=3600)
# Demo data (a demo/demo user and a portfolio) is loaded only in the embedded default.
TICKWIRE_DEMO_DATA = False
# `tickwire serve` applies migrations itself only in the embedded default; elsewhere it
# refuses to start on an unmigrated database and says to run `tickwire manage migrate`.
TICKWIRE_MIGRATE_ON_START = False
# Servers and feeds check the database, the broker and the data source before they start
# (tickwire.realtime.preflight); tests that import the ASGI application turn this off.
TICKWIRE_STARTUP_CHECKS = True

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise SettingError("LOG_LEVEL", LOG_LEVEL, "DEBUG, INFO, WARNING, ERROR or CRITICAL")
# LOG_FORMAT=json (one object per line) and LOG_FILE (logrotate-friendly): tickwire/logconfig.py
LOGGING = logging_config(LOG_LEVEL)
# /metrics answers these addresses, or a request with "Authorization: Bearer <token>".
TICKWIRE_METRICS_ALLOW = networks(env_list("TICKWIRE_METRICS_ALLOW", ["127.0.0.1", "::1"]))
TICKWIRE_METRICS_TOKEN = env_str("TICKWIRE_METRICS_TOKEN", "")

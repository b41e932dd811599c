"""CraftFrame settings, read from the environment.

Every value has an embedded default so `make run` works on a fresh machine (SQLite, local
media, database cache, StubBroker). Production sets the variables listed in README.md.
A malformed value raises ImproperlyConfigured naming its variable.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_database,
    env_int,
    env_list,
    env_seconds,
    env_str,
    env_url,
)
from config.s3 import s3_storage
from core.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (make run generates one in var/secret_key)"
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_dramatiq",
    "core",
    "accounts",
    "tokens",
    "studio",
    "pipelines",
    "support",
    "organizations",
]

MIDDLEWARE = [
    "core.metrics.MetricsMiddleware",  # first: it times everything below
    "core.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.security.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE transactions take the write lock up front, so two writers queue instead of
    # failing with "database is locked" when both try to upgrade a read lock.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Under ASGI every request runs its sync code on a thread of its own, so a connection
    # kept by a thread (CONN_MAX_AGE) dies with it: a pool shared by the process's threads
    # keeps connections across requests. DATABASE_POOL_SIZE=0 turns it off.
    _pool_size = env_int("DATABASE_POOL_SIZE", 20, minimum=0, maximum=500)
    _conn_max_age = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    if _pool_size:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool decides; Django requires 0 here
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": _pool_size,
            "timeout": env_seconds("DATABASE_POOL_TIMEOUT", 10),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = _conn_max_age
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# --- Cache (rate limits, shared across processes) ---------------------------------------------
REDIS_URL = env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "craftframe"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "craftframe_cache",
        }
    }

# --- Change notifications (core/events.py): job progress to open event streams -----------------
# Redis pub/sub across processes; unset (the embedded mode), in-process.
EVENTS_URL = env_url("EVENTS_URL", REDIS_URL, schemes=("redis", "rediss", "unix"))
EVENTS_PREFIX = env_str("EVENTS_PREFIX", env_str("CACHE_KEY_PREFIX", "craftframe"))
SSE_HEARTBEAT = env_seconds("SSE_HEARTBEAT", 15)  # a comment line keeps proxies from closing
# A stream re-reads its job this often, in case a notification was lost on the way.
SSE_RECONCILE = env_seconds("SSE_RECONCILE", 60)

# --- Task queue -----------------------------------------------------------------------------
DRAMATIQ_BROKER_URL = env_url(
    "DRAMATIQ_BROKER_URL", REDIS_URL, schemes=("redis", "rediss", "amqp", "amqps")
)
if DRAMATIQ_BROKER_URL is None:
    _broker_class = "dramatiq.brokers.stub.StubBroker"
    _broker_options: dict = {}
elif DRAMATIQ_BROKER_URL.startswith("amqp"):
    _broker_class = "dramatiq.brokers.rabbitmq.RabbitmqBroker"
    _broker_options = {"url": DRAMATIQ_BROKER_URL}
else:
    _broker_class = "core.broker.WakingRedisBroker"  # RedisBroker, woken instead of polling
    _broker_options = {
        "url": DRAMATIQ_BROKER_URL,
        "namespace": env_str("DRAMATIQ_NAMESPACE", "dramatiq"),
    }
DRAMATIQ_BROKER = {
    "BROKER": _broker_class,
    "OPTIONS": _broker_options,
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]
DRAMATIQ_QUEUE_PREFIX = env_str("DRAMATIQ_QUEUE_PREFIX", "")
# With the StubBroker nothing else would consume messages, so the web process runs workers.
EMBEDDED_WORKER = env_bool("EMBEDDED_WORKER", DRAMATIQ_BROKER_URL is None)
EMBEDDED_WORKER_THREADS = env_int("EMBEDDED_WORKER_THREADS", 2, minimum=1, maximum=32)

# --- Storage --------------------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

S3_BUCKET = env_str("S3_BUCKET")
if S3_BUCKET:
    _addressing = env_str("S3_ADDRESSING_STYLE", "path")
    if _addressing not in ("path", "virtual", "auto"):
        raise ImproperlyConfigured("S3_ADDRESSING_STYLE must be path, virtual or auto")
    _default_storage = s3_storage(
        bucket=S3_BUCKET,
        endpoint_url=env_url("S3_ENDPOINT_URL", None, schemes=("http", "https")),
        access_key=env_str("S3_ACCESS_KEY_ID", env_str("AWS_ACCESS_KEY_ID")),
        secret_key=env_str("S3_SECRET_ACCESS_KEY", env_str("AWS_SECRET_ACCESS_KEY")),
        region=env_str("S3_REGION", "us-east-1"),
        addressing_style=_addressing,
        url_expiry=env_seconds("S3_URL_EXPIRY", 3600),
        connect_timeout=env_seconds("S3_CONNECT_TIMEOUT", 5),
        read_timeout=env_seconds("S3_READ_TIMEOUT", 60),
    )
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _default_storage,
    # Hashed names (served with far-future caching by whitenoise), JS module imports included.
    "staticfiles": {"BACKEND": "core.staticfiles.StaticStorage"},
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/studio/"
# Pages: a session cookie the browser's scripts cannot read, sent on top-level navigations
# from other sites (links in mails) but not on their cross-site requests.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_seconds("SESSION_COOKIE_AGE", 14 * 86400)
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "core.errors.csrf_failure"

# --- Security headers (core/security.py) ------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Where the browser may load media from besides this site: signed S3 URLs live on the
# storage's own origin (computed from S3_ENDPOINT_URL; AWS's hosts by default).
CSP_MEDIA_ORIGINS = env_list("CSP_MEDIA_ORIGINS", [])

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_seconds("JWT_ACCESS_LIFETIME", 15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env_seconds("JWT_REFRESH_LIFETIME", 7 * 86400)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,  # login does it explicitly; refresh is not a login
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["core.ratelimit.PlanApiThrottle"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CraftFrame API",
    "DESCRIPTION": "AI image and video studio with an auditable credit ledger.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # One name per enum where several serializers share it (statuses of generations and of
    # webhook deliveries would otherwise collide as "StatusEnum").
    "ENUM_NAME_OVERRIDES": {
        "WebhookEventEnum": "studio.models.WebhookEvent",
        "DeliveryStatusEnum": "studio.models.DeliveryStatus",
        "GenerationStatusEnum": "studio.models.Status",
        "GenerationKindEnum": "studio.models.Kind",
        "ExecutionStatusEnum": "pipelines.models.ExecutionStatus",
        "EntryKindEnum": "tokens.models.EntryKind",
        "RoleEnum": "organizations.models.Role",
        "ImageModelEnum": "studio.options.IMAGE_MODEL_CHOICES",
        "VideoModelEnum": "studio.options.VIDEO_MODEL_CHOICES",
    },
}

# --- Rate limits ----------------------------------------------------------------------------
RATELIMIT_USE_CACHE = "default"
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
AUTH_RATE_LIMIT = env_str("AUTH_RATE_LIMIT", "10/m")  # login, register, demo: per client IP
# Behind a proxy, the request header holding the client's address (e.g. X-Real-IP or
# X-Forwarded-For, whose first address is used). Unset: the connection's address.
CLIENT_IP_HEADER = env_str("CLIENT_IP_HEADER")
if not REDIS_URL:
    # The database cache is shared across processes, which is what limits need; its
    # increments are not atomic, so a burst may slip a request or two past a limit.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]

# --- Product --------------------------------------------------------------------------------
DEMO_EMAIL = "demo@craftframe.app"
DEMO_CREDITS = env_int("DEMO_CREDITS", 1000, minimum=1)
DEMO_REFILL_BELOW = env_int("DEMO_REFILL_BELOW", 100, minimum=0)
# Holds and their resolution as single statements on PostgreSQL (tokens/pg.py); the portable
# multi-statement path is used elsewhere, and by tests that turn this off.
TOKENS_SINGLE_STATEMENT = True
HOLD_TTL = timedelta(seconds=env_seconds("HOLD_TTL", 24 * 3600))

# --- Studio: providers, execution, webhooks -------------------------------------------------
HF_TOKEN = env_str("HF_TOKEN")
HF_PROVIDER = env_str("HF_PROVIDER", "hf-inference")
HF_BASE_URL = env_url(
    "HF_BASE_URL", "https://router.huggingface.co/hf-inference", schemes=("http", "https")
)
HF_TIMEOUT = env_seconds("HF_TIMEOUT", 120)
POLLINATIONS_URL = env_url("POLLINATIONS_URL", None, schemes=("http", "https"))
POLLINATIONS_TIMEOUT = env_seconds("POLLINATIONS_TIMEOUT", 60)
# A remote provider joins the chain only when configured, so nothing leaves this machine by
# default (seed order: huggingface -> pollinations -> local).
_default_image_chain = (
    (["huggingface"] if HF_TOKEN else [])
    + (["pollinations"] if POLLINATIONS_URL else [])
    + ["local"]
)
IMAGE_PROVIDERS = env_list("IMAGE_PROVIDERS", _default_image_chain)
VIDEO_PROVIDERS = env_list("VIDEO_PROVIDERS", (["huggingface"] if HF_TOKEN else []) + ["local"])
_known_providers = {"local", "huggingface", "pollinations", "instant"}
for _name, _chain in (("IMAGE_PROVIDERS", IMAGE_PROVIDERS), ("VIDEO_PROVIDERS", VIDEO_PROVIDERS)):
    if not _chain or set(_chain) - _known_providers:
        raise ImproperlyConfigured(
            f"{_name} must list providers from {sorted(_known_providers)}; got {_chain!r}"
        )
GENERATION_TIME_LIMIT = {
    "image": env_seconds("IMAGE_TIME_LIMIT", 300),
    "video": env_seconds("VIDEO_TIME_LIMIT", 1200),
    "operation": env_seconds("OPERATION_TIME_LIMIT", 300),
}
# Image operations with more than one provider; the others are local only. Hugging Face goes
# first when it is configured (a segmentation model; image-to-image for generative upscale).
_operation_chain = (["huggingface"] if HF_TOKEN else []) + ["local"]
OPERATION_PROVIDERS = {
    "background_removal": env_list("BACKGROUND_REMOVAL_PROVIDERS", _operation_chain),
    "generative_upscale": env_list("GENERATIVE_UPSCALE_PROVIDERS", _operation_chain),
}
HF_SEGMENTATION_MODEL = env_str("HF_SEGMENTATION_MODEL", "briaai/RMBG-1.4")
HF_UPSCALE_MODEL = env_str("HF_UPSCALE_MODEL", "stabilityai/stable-diffusion-x4-upscaler")
GENERATION_MAX_ATTEMPTS = env_int("GENERATION_MAX_ATTEMPTS", 3, minimum=1, maximum=10)
# A worker owns a running job for this long after each progress report; a job whose lease
# ran out lost its worker (the sweeper hands it to another one).
GENERATION_LEASE = env_seconds("GENERATION_LEASE", 60)
# A queued job older than this whose message may be lost is enqueued again by the sweeper.
QUEUED_STALE_AFTER = env_seconds("QUEUED_STALE_AFTER", 120)
STORAGE_RETRIES = env_int("STORAGE_RETRIES", 4, minimum=0, maximum=10)
MEDIA_URL_EXPIRY = env_seconds("MEDIA_URL_EXPIRY", 3600)  # signed local media URLs
# Where the site is reached from outside (https://studio.example.com): makes the app's own
# media URLs absolute where no request says it (webhook payloads).
PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", None, schemes=("http", "https"))
WEBHOOK_TIMEOUT = env_seconds("WEBHOOK_TIMEOUT", 10)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1, maximum=20)
# Webhook URLs resolving to loopback, private or link-local addresses are refused unless this
# is on (tests and closed networks).
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
# Uploaded source images (studio/uploads.py): the largest file, and the most pixels, checked
# from the header before anything is decoded. At most 40 million: what the image operations
# (studio.imageops) decode, and what an upscale may produce.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 20 * 2**20, minimum=1)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000, minimum=1, maximum=40_000_000)

# --- Metrics (core/metrics.py): GET /metrics in the Prometheus text format --------------------
# On in production (PostgreSQL), off in the embedded mode. With METRICS_TOKEN a scrape needs
# `Authorization: Bearer <token>`; without it only this machine may scrape (loopback, no proxy).
METRICS_ENABLED = env_bool(
    "METRICS_ENABLED", DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
)
METRICS_TOKEN = env_str("METRICS_TOKEN")
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters long")
# prometheus_client's multiprocess mode: web and worker processes write their values here (the
# variable must be in their environment when they start) and a scrape adds them up.
METRICS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")
if METRICS_MULTIPROC_DIR:
    try:
        Path(METRICS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"PROMETHEUS_MULTIPROC_DIR {METRICS_MULTIPROC_DIR!r} cannot be created: {exc}"
        ) from None

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL; got {LOG_LEVEL!r}"
    )
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json; got {LOG_FORMAT!r}")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)

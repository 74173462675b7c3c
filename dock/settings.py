"""Dock settings. Everything that differs between machines comes from the environment."""

import hashlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DOCK_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int, *, least: int = 0) -> int:
    """A whole-number setting. One that is not stops the start with a one-line error
    (manage.py prints it), not a ValueError's traceback."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < least:
        raise ImproperlyConfigured(f"{name} must be at least {least}, not {value}.")
    return value


def env_text(name: str) -> str | None:
    """A text setting, None when unset. Set but blank (an unset ${VAR} in an env file) is
    refused: falling back to the local default would give each host its own secret, cache
    or database, and nothing would say so."""
    value = os.environ.get(name)
    if value is not None and not value.strip():
        raise ImproperlyConfigured(f"{name} is set but empty: give it a value, or unset it for the default.")
    return value


def _embedded_secret() -> str:
    # The embedded default keeps a generated secret beside the SQLite database, so a
    # fresh checkout runs without configuration; production sets DOCK_SECRET_KEY.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DOCK_DEBUG")
SECRET_KEY = env_text("DOCK_SECRET_KEY") or _embedded_secret()
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("DOCK_SECRET_KEY must be at least 32 characters long.")

# API keys are stored as HMAC-SHA256 under this pepper. Derived from the secret key when
# unset, under its own label so the two never coincide.
DOCK_KEY_PEPPER = env_text("DOCK_KEY_PEPPER") or hashlib.sha256(
    b"dock-key-pepper:" + SECRET_KEY.encode()
).hexdigest()
DOCK_KEY_GRACE_SECONDS = env_int("DOCK_KEY_GRACE_SECONDS", 900)
DOCK_RATE_LIMIT = env_int("DOCK_RATE_LIMIT", 600, least=1)  # requests per minute
DOCK_PROPOSAL_TTL_SECONDS = env_int("DOCK_PROPOSAL_TTL_SECONDS", 7 * 24 * 3600, least=1)
DOCK_INVITATION_TTL_SECONDS = env_int("DOCK_INVITATION_TTL_SECONDS", 7 * 24 * 3600, least=1)

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_filters",
    "audit",
    "identity",
    "dock.workspaces",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dock.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dock.middleware.PrivatePagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dock.middleware.LoginForSwapsMiddleware",
    "dock.middleware.MethodNotAllowedPageMiddleware",
]

ROOT_URLCONF = "dock.urls"
WSGI_APPLICATION = "dock.wsgi.application"

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
                "identity.context_processors.navigation",
            ],
        },
    }
]

_sqlite_default = f"sqlite:///{VAR_DIR / 'dock.sqlite3'}"
_DATABASES_KNOWN = ("django.db.backends.postgresql", "django.db.backends.sqlite3")
try:
    # Unset means the embedded default; set but blank is refused (env_text).
    _database = dj_database_url.parse(
        (env_text("DATABASE_URL") or _sqlite_default).strip(),
        conn_max_age=env_int("DOCK_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
except ValueError:
    _database = {}
if _database.get("ENGINE") not in _DATABASES_KNOWN or _database.get("NAME") in ("", ":memory:"):
    # Not the URL itself in the message: it may carry a password.
    raise ImproperlyConfigured("DATABASE_URL must be a postgres://user@host:port/name or a sqlite:///path URL.")
DATABASES = {"default": _database}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue on BEGIN IMMEDIATE instead of failing with "database is locked".
    # Connections persist as on PostgreSQL (DOCK_CONN_MAX_AGE): opening one and reading
    # the schema again on every request costs more than most requests' queries.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test.sqlite3")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "identity.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REDIS_URL = env_text("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dock"}}

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
# Above the agent API's cap on a body (identity.api.urls.MAX_BODY_BYTES, about 1.15 MiB:
# a document at its length limits, written as JSON), which refuses larger ones first.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1536 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

EMAIL_BACKEND = os.environ.get("DOCK_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, least=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Dock <dock@localhost>")

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and env_bool("DOCK_HTTPS", default=False):
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DOCK_LOG_LEVEL", "WARNING")},
}

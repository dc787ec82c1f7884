"""Settings: one frozen object read from ``ALS_*`` environment variables, validated once.

No other module reads the environment. Outside development (``ALS_ENV=production``) a missing or
weak secret stops the start with a message that names the variable, never its value.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network, IPv6Network, ip_network
from urllib.parse import urlsplit

from service.crypto import KeyRing, KeyRingError

PREFIX = "ALS_"
# The secret of the service client in keycloak/alexa-linking-realm.json (dev realm only).
DEV_KEYCLOAK_SECRET = "dev-service-secret-change-me"  # noqa: S105


class SettingsError(ValueError):
    """A setting is missing, malformed or too weak; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str = "production"
    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    # Reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For/-Proto are believed.
    trusted_proxies: str = ""
    keycloak_url: str = "http://127.0.0.1:8180"
    keycloak_realm: str = "alexa-linking"
    keycloak_client_id: str = "account-linking-service"
    keycloak_client_secret: str = field(default="", repr=False)
    keycloak_timeout: float = 5.0
    # How often Keycloak's admin events are read (a user disabled or deleted there loses our
    # tokens, links and sessions), and how long a user's roles or a username's id is trusted.
    keycloak_sync_seconds: float = 15.0
    mongodb_uri: str = field(default="mongodb://127.0.0.1:27018/", repr=False)
    mongodb_db: str = "alexa_linking"
    mongodb_timeout: float = 2.0  # seconds any one database operation may take
    session_key: str = field(default="", repr=False)
    session_max_age: int = 8 * 3600
    encryption_keys: str = field(default="", repr=False)
    token_keys: str = field(default="", repr=False)  # our tokens' MAC keys: kid:key, newest first
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 0
    code_ttl: int = 300
    lwa_timeout: float = 3.0
    alexa_timeout: float = 5.0
    # Partners' LWA token URL and Alexa API base may be other than Amazon's own hosts (the
    # Amazon stand-in of the dev stack and the tests); never link-local or metadata addresses.
    allow_custom_amazon_urls: bool = False
    client_cache_seconds: float = 5.0  # how long a process trusts a client registration it read
    # Per process, in memory: failed client authentications per client id and source address,
    # and logins started per source address; 0 = no limit.
    client_auth_failures_per_minute: int = 10
    logins_per_minute: int = 30
    # Retention (days; 0 = kept forever): the audit trail, ended LWA links; and refresh tokens
    # unused this long expire (0 = never: Alexa keeps a link for as long as it is enabled).
    audit_retention_days: int = 365
    ended_link_retention_days: int = 90
    refresh_token_idle_days: int = 0
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464  # Prometheus /metrics on its own port; 0 = not served

    @property
    def dev(self) -> bool:
        return self.env == "dev"

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    def url(self, path: str) -> str:
        """Absolute URL of one of our paths, from the configured public base URL."""
        return self.public_base + path

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """ALS_TRUSTED_PROXIES parsed: the peers whose forwarding headers we believe."""
        networks = []
        for entry in (part.strip() for part in self.trusted_proxies.split(",")):
            if not entry:
                continue
            try:
                networks.append(ip_network(entry))
            except ValueError:
                raise SettingsError(
                    f"ALS_TRUSTED_PROXIES: {entry!r} is not an IP address or network (CIDR)"
                ) from None
        return tuple(networks)

    @property
    def session_key_bytes(self) -> bytes:
        return _decode_key(self.session_key, "ALS_SESSION_KEY")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> Settings:
        """Check every value; in dev mode fill in missing secrets with throw-away ones."""
        if self.env not in ("dev", "production"):
            raise SettingsError("ALS_ENV must be 'dev' or 'production'")
        self._check_urls()
        self.trusted_proxy_networks  # noqa: B018 - validates ALS_TRUSTED_PROXIES
        self._check_lifetimes()
        self._check_observability()
        settings = self._with_dev_secrets() if self.dev else self._checked_for_production()
        settings.session_key_bytes  # noqa: B018 - validates the key's shape
        for name, spec in (
            ("ALS_ENCRYPTION_KEYS", settings.encryption_keys),
            ("ALS_TOKEN_KEYS", settings.token_keys),
        ):
            try:
                KeyRing.parse(spec)
            except KeyRingError as exc:
                raise SettingsError(f"{name}: {exc}") from None
        return settings

    def _check_urls(self) -> None:
        for name, url in (
            ("ALS_PUBLIC_URL", self.public_url),
            ("ALS_KEYCLOAK_URL", self.keycloak_url),
        ):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SettingsError(f"{name} must be an absolute http(s) URL")

    def _check_lifetimes(self) -> None:
        for name, number in (
            ("ALS_ACCESS_TOKEN_TTL", self.access_token_ttl),
            ("ALS_CODE_TTL", self.code_ttl),
            ("ALS_SESSION_MAX_AGE", self.session_max_age),
        ):
            if number <= 0:
                raise SettingsError(f"{name} must be a positive number of seconds")
        if self.code_ttl > 600:
            raise SettingsError("ALS_CODE_TTL must be at most 600 seconds (RFC 6749 §4.1.2)")
        if self.refresh_token_ttl < 0:
            raise SettingsError("ALS_REFRESH_TOKEN_TTL must be 0 (never expires) or positive")
        if not 0 <= self.client_cache_seconds <= 300:
            raise SettingsError("ALS_CLIENT_CACHE_SECONDS must be between 0 and 300")
        if not 0 < self.keycloak_sync_seconds <= 30:
            # Changes in Keycloak must reach our tokens within a minute (README, Identity).
            raise SettingsError("ALS_KEYCLOAK_SYNC_SECONDS must be more than 0 and at most 30")
        self._check_limits()

    def _check_limits(self) -> None:
        if not 0 < self.mongodb_timeout <= 60:
            raise SettingsError("ALS_MONGODB_TIMEOUT must be more than 0 and at most 60 seconds")
        for name, number in (
            ("ALS_CLIENT_AUTH_FAILURES_PER_MINUTE", self.client_auth_failures_per_minute),
            ("ALS_LOGINS_PER_MINUTE", self.logins_per_minute),
            ("ALS_AUDIT_RETENTION_DAYS", self.audit_retention_days),
            ("ALS_ENDED_LINK_RETENTION_DAYS", self.ended_link_retention_days),
            ("ALS_REFRESH_TOKEN_IDLE_DAYS", self.refresh_token_idle_days),
        ):
            if number < 0:
                raise SettingsError(f"{name} must be 0 (off) or positive")

    def _check_observability(self) -> None:
        if self.log_format not in ("text", "json"):
            raise SettingsError("ALS_LOG_FORMAT must be 'text' or 'json'")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError("ALS_METRICS_PORT must be a port number, or 0 to serve no metrics")
        if self.metrics_port == self.port:
            raise SettingsError("ALS_METRICS_PORT must differ from ALS_PORT (metrics stay private)")

    def _with_dev_secrets(self) -> Settings:
        settings = self
        if not self.session_key:
            settings = replace(settings, session_key=generate_key())
        if not self.encryption_keys:
            settings = replace(settings, encryption_keys="dev:" + generate_key())
        if not self.token_keys:
            settings = replace(settings, token_keys="dev:" + generate_key())
        if not self.keycloak_client_secret:
            settings = replace(settings, keycloak_client_secret=DEV_KEYCLOAK_SECRET)
        return settings

    def _checked_for_production(self) -> Settings:
        if urlsplit(self.public_url).scheme != "https":
            raise SettingsError("ALS_PUBLIC_URL must be https in production (Alexa requires TLS)")
        if len(self.keycloak_client_secret) < 16 or "change-me" in self.keycloak_client_secret:
            raise SettingsError("ALS_KEYCLOAK_CLIENT_SECRET is missing or a placeholder")
        if not self.session_key:
            raise SettingsError("ALS_SESSION_KEY is required (32 random bytes, urlsafe base64)")
        if not self.encryption_keys:
            raise SettingsError("ALS_ENCRYPTION_KEYS is required (kid:key, newest first)")
        if not self.token_keys:
            raise SettingsError("ALS_TOKEN_KEYS is required (kid:key, newest first)")
        return self


def generate_key() -> str:
    """A new 32-byte key in urlsafe base64, the format of ALS_SESSION_KEY and key ring entries."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _decode_key(value: str, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise SettingsError(f"{name} is not urlsafe base64") from None
    if len(raw) != 32:
        raise SettingsError(f"{name} must decode to 32 bytes")
    return raw


_INT_FIELDS = {
    "port",
    "session_max_age",
    "access_token_ttl",
    "refresh_token_ttl",
    "code_ttl",
    "metrics_port",
    "client_auth_failures_per_minute",
    "logins_per_minute",
    "audit_retention_days",
    "ended_link_retention_days",
    "refresh_token_idle_days",
}
_FLOAT_FIELDS = {
    "keycloak_timeout",
    "keycloak_sync_seconds",
    "lwa_timeout",
    "alexa_timeout",
    "client_cache_seconds",
    "mongodb_timeout",
}
_EMPTY_MEANS_ZERO = {"metrics_port"}  # ALS_METRICS_PORT= (empty) turns metrics off, as 0 does
_BOOL_FIELDS = {"allow_custom_amazon_urls"}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``ALS_<FIELD>`` variables (``MONGODB_URI`` is honoured too) and validate them."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name in Settings.__dataclass_fields__:
        raw = env.get(PREFIX + name.upper())
        if raw is None and name == "mongodb_uri":
            raw = env.get("MONGODB_URI")
        if raw == "" and name in _EMPTY_MEANS_ZERO:
            raw = "0"
        if raw is None or raw == "":
            continue
        if name in _BOOL_FIELDS:
            values[name] = _boolean(PREFIX + name.upper(), raw)
            continue
        try:
            if name in _INT_FIELDS:
                values[name] = int(raw)
            elif name in _FLOAT_FIELDS:
                values[name] = float(raw)
            else:
                values[name] = raw
        except ValueError:
            raise SettingsError(f"{PREFIX}{name.upper()} must be a number") from None
    return Settings(**values).validate()  # type: ignore[arg-type]


def _boolean(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise SettingsError(f"{variable} must be true or false")
    return value in _TRUE


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the database is, and nothing else: what the read-only admin commands need."""

    mongodb_uri: str = field(default=Settings.mongodb_uri, repr=False)
    mongodb_db: str = Settings.mongodb_db


def load_database_settings(environ: Mapping[str, str] | None = None) -> DatabaseSettings:
    """Read only ``ALS_MONGODB_URI`` (or ``MONGODB_URI``) and ``ALS_MONGODB_DB``, as
    `load_settings` reads them. For commands that only read the database (`clients list`,
    `partners show` …): they run in production without the server's secrets and public URL."""
    env = os.environ if environ is None else environ
    uri = env.get(PREFIX + "MONGODB_URI")
    if uri is None:
        uri = env.get("MONGODB_URI")
    return DatabaseSettings(
        mongodb_uri=uri or DatabaseSettings.mongodb_uri,
        mongodb_db=env.get(PREFIX + "MONGODB_DB") or DatabaseSettings.mongodb_db,
    )


@dataclass(frozen=True)
class PublicSettings:
    """Where Alexa and browsers reach us and Keycloak, and the database, with no secret: what
    `alexa account-linking` needs to print a skill's account-linking configuration."""

    public_url: str = Settings.public_url
    keycloak_url: str = Settings.keycloak_url
    keycloak_realm: str = Settings.keycloak_realm
    keycloak_timeout: float = Settings.keycloak_timeout
    database: DatabaseSettings = field(default_factory=DatabaseSettings)

    def url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path


def load_public_settings(environ: Mapping[str, str] | None = None) -> PublicSettings:
    """Read ``ALS_PUBLIC_URL``, ``ALS_KEYCLOAK_URL``, ``ALS_KEYCLOAK_REALM``,
    ``ALS_KEYCLOAK_TIMEOUT`` and the database settings, as `load_settings` reads them."""
    env = os.environ if environ is None else environ
    values = {
        name: env.get(PREFIX + name.upper()) or getattr(PublicSettings, name)
        for name in ("public_url", "keycloak_url", "keycloak_realm")
    }
    for name in ("public_url", "keycloak_url"):
        parts = urlsplit(values[name])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{PREFIX}{name.upper()} must be an http(s) URL")
    try:
        timeout = float(env.get(PREFIX + "KEYCLOAK_TIMEOUT") or PublicSettings.keycloak_timeout)
    except ValueError:
        raise SettingsError(f"{PREFIX}KEYCLOAK_TIMEOUT must be a number") from None
    return PublicSettings(
        public_url=values["public_url"],
        keycloak_url=values["keycloak_url"],
        keycloak_realm=values["keycloak_realm"],
        keycloak_timeout=timeout,
        database=load_database_settings(env),
    )

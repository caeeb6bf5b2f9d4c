"""One Settings object, read from the environment (and an optional .env file)."""

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import limits
from cryptography.fernet import Fernet
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class TrustLimits(BaseModel):
    """What one tier of member may do (docs/safety.md says who is in which tier, and why)."""

    # Needs a member files for themselves in any 24 hours (an organisation's intake is not counted).
    needs_per_day: int = Field(ge=0, le=100_000)
    offers_per_day: int = Field(ge=0, le=100_000)
    # Matches a volunteer claimed (proposed or accepted) and has not yet finished or left.
    open_claims: int = Field(ge=0, le=100_000)
    # The furthest an offer of theirs may reach (offers may never reach past 200 km).
    offer_reach_km: float = Field(gt=0, le=200)
    # Candidate lists of needs they own, in any 24 hours.
    candidates_per_day: int = Field(ge=1, le=1_000_000)


# A person asking for help files a few needs a week and a volunteer keeps one or two offers; a new
# account's reach is a short drive. Enough for honest use, far short of a neighbourhood's harvest.
TRUST_DEFAULTS = {
    "new": TrustLimits(
        needs_per_day=3, offers_per_day=2, open_claims=3, offer_reach_km=10, candidates_per_day=30
    ),
    "member": TrustLimits(
        needs_per_day=10, offers_per_day=5, open_claims=10, offer_reach_km=25, candidates_per_day=100
    ),
    "vetted": TrustLimits(
        needs_per_day=50, offers_per_day=20, open_claims=30, offer_reach_km=100, candidates_per_day=1000
    ),
}


class Settings(BaseSettings):
    # `TRUST_NEW__NEEDS_PER_DAY=2` sets one limit of one tier.
    # Errors name the setting and what is wrong, never its value: several hold secrets.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_nested_delimiter="__", hide_input_in_errors=True
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./mutual_aid.db"
    # On SQLite the zero-setup path migrates at start-up; on Postgres it is a separate step.
    migrate_on_startup: bool = True
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # An outage must answer 503 quickly, never hang a request: a bound on each wait.
    db_connect_timeout_seconds: int = Field(default=2, ge=1, le=60)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(default=30_000, ge=100, le=600_000)

    # Unset outside production: a random secret per process (tokens end with a restart).
    jwt_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    # Access tokens are short-lived; a session lives on through its rotating refresh token.
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    # A session unused (not refreshed) for this long ends: its refresh token expires.
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=300, le=365 * 24 * 3600)
    password_min_length: int = Field(default=10, ge=8, le=64)
    # One-time links in mail: a password reset, an address to verify.
    password_reset_ttl_seconds: int = Field(default=3600, ge=60, le=24 * 3600)
    email_verification_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=300, le=30 * 24 * 3600)
    # A change of address waits at most this long for the new address's link (a day: the old
    # address was told, and a pending change should not linger).
    email_change_ttl_seconds: int = Field(default=24 * 3600, ge=300, le=7 * 24 * 3600)

    # Mail, sent by the worker: `smtp://host:port` (STARTTLS when offered), `smtps://host:port`
    # (TLS from the start); user:password in the URL when the relay needs them. Unset: mail is
    # queued and recorded as failed ("no SMTP_URL"), never silently dropped.
    smtp_url: str | None = None
    email_from: str = "Mutual Aid <no-reply@example.org>"
    # Where links in mail point: the web front end that takes `?token=` and calls the API.
    public_base_url: str = "http://localhost:8000"
    # Where this API is reached from outside (the one-click unsubscribe link in notification
    # mail points here, RFC 8058); PUBLIC_BASE_URL when unset.
    api_base_url: str | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # Web Push (RFC 8030, 8291, 8292). The VAPID private key (P-256) as PEM, or base64url of its
    # raw 32 bytes or DER; unset, one is made on first use and kept in the database, so every
    # process signs with the same key. The subject is how a push service reaches the operator
    # (`mailto:` or `https:`); unset, `mailto:` and EMAIL_FROM's address.
    vapid_private_key: str | None = None
    vapid_subject: str | None = None
    # How long a push service keeps a message for a browser that is offline (the TTL header).
    push_ttl_seconds: int = Field(default=24 * 3600, ge=0, le=28 * 24 * 3600)

    # Shared rate-limit storage for several workers; in-process memory when unset.
    redis_url: str | None = None
    rate_limit_prefix: str = "mutual-aid"
    # Per caller (API key, member, or client address when anonymous), in `limits` notation.
    rate_limit_member: str = "300/minute"
    rate_limit_key: str = "600/minute"
    rate_limit_anonymous: str = "60/minute"
    # Failed logins and bad credentials, per client address: far stricter.
    rate_limit_auth_failures: str = "10/minute"
    # Reports filed, per reporter: enough for anyone meeting trouble, too few to flood moderators.
    rate_limit_reports: str = "20/hour"
    # Password-reset mails to any one address: past it, requests still answer 202 but send
    # nothing, so no one can flood a mailbox through the service.
    rate_limit_reset_mail: str = "5/hour"

    # Trust limits per member (docs/safety.md): tighter for accounts younger than this many days
    # that no organisation has vetted, looser for vetted members. Keys and coordinators filing for
    # their organisation are not limited by them.
    trust_new_account_days: int = Field(default=14, ge=0, le=365)
    trust_new: TrustLimits = TRUST_DEFAULTS["new"]
    trust_member: TrustLimits = TRUST_DEFAULTS["member"]
    trust_vetted: TrustLimits = TRUST_DEFAULTS["vetted"]

    # Opt-in alerts of new public needs nearby (`need.nearby`): at most this many per volunteer
    # per UTC day, kept by the database (docs/notifications.md, Alerts).
    alerts_per_day: int = Field(default=10, ge=0, le=1000)
    # Of those, at most this many from one source (the person who filed the needs, for themselves
    # or any organisation), so one busy or hostile filer cannot spend a volunteer's day of alerts.
    alerts_per_source_per_day: int = Field(default=3, ge=0, le=1000)
    # How often the worker looks for members' daily alert digests that are due (`alerts.digest`).
    alert_digest_interval_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)

    # Logs are JSON lines on stderr; `LOG_JSON=false` prints them for a person instead.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    # How long requests in flight may take to finish after SIGTERM (orchestrators allow ~30 s).
    shutdown_grace_seconds: int = Field(default=25, ge=1, le=600)
    # Idempotency-Key: responses are kept at least a day (Stripe's promise); a duplicate waits this
    # long for the first request before a 409; a claim older than the lease is presumed dead.
    idempotency_key_ttl_seconds: int = Field(default=24 * 3600, ge=24 * 3600, le=30 * 24 * 3600)
    idempotency_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    idempotency_lease_seconds: int = Field(default=120, ge=10, le=3600)
    # Webhook delivery. Private, loopback and other non-public targets are refused unless allowed
    # (tests and a development machine need loopback; production never should).
    webhook_allow_private_targets: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=16, ge=1, le=50)
    # Full jitter: attempt n waits a uniform time in [0, min(cap, base * 2**(n-1))].
    webhook_backoff_base_seconds: float = Field(default=10.0, gt=0)
    webhook_backoff_cap_seconds: float = Field(default=6 * 3600.0, gt=0)
    # Deliveries one worker pass claims and sends at once.
    webhook_batch_size: int = Field(default=20, ge=1, le=500)
    # How long a claimed delivery stays out of other workers' reach: past it, a lost attempt is retried.
    webhook_lease_seconds: float = Field(default=120.0, gt=0)
    # Ended deliveries (and events none refers to) are forgotten after this many days.
    webhook_retention_days: int = Field(default=30, ge=1, le=3650)
    # An idle worker looks for due deliveries this often.
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    # Retention (docs/data-rights.md): the exact location, address and contact of needs that
    # ended this many days ago are purged; audit rows older than AUDIT_RETENTION_DAYS are deleted;
    # each purge batch (its own transaction) touches at most RETENTION_BATCH_SIZE rows; the
    # worker purges every RETENTION_INTERVAL_SECONDS.
    retention_days: int = Field(default=90, ge=1, le=3650)
    audit_retention_days: int = Field(default=365, ge=1, le=3650)
    retention_batch_size: int = Field(default=1000, ge=1, le=100_000)
    retention_interval_seconds: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600)

    # Notification streams: a comment line at least this often keeps proxies from closing an idle
    # stream (the contract allows at most 15 s); on SQLite, which cannot announce a commit to
    # other processes, each process looks for new rows for all its streams this often (one query,
    # app.notifications.hub); and a stream ends after at most
    # this long (or when its token expires, if sooner), the client resuming with Last-Event-ID.
    notification_heartbeat_seconds: float = Field(default=15.0, gt=0, le=15)
    notification_poll_seconds: float = Field(default=0.5, gt=0, le=15)
    notification_stream_max_seconds: float = Field(default=3600.0, gt=0, le=24 * 3600)
    # Recurring series (the contract's RECURRENCE_MAX_OCCURRENCES): at most this many occurrences
    # within the horizon from the first start; a rule without COUNT or UNTIL stops at the horizon.
    recurrence_max_occurrences: int = Field(default=366, ge=1, le=5000)
    recurrence_horizon_days: int = Field(default=731, ge=1, le=3660)

    # Reminders of occurrences (`occurrence.reminder`): sent this long before each occurrence of an
    # accepted match's need and of an activity a member is confirmed on; the worker looks for
    # due ones every REMINDER_INTERVAL_SECONDS.
    reminder_lead_minutes: int = Field(default=24 * 60, ge=1, le=14 * 24 * 60)
    reminder_interval_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)

    # Crisis resources: a JSON catalogue replacing the shipped default (schema in
    # app/safety/catalogue.py); a bad file stops start-up with a message naming it.
    crisis_resources_file: Path | None = None

    # Each web worker starts its matching runs' computing process (NumPy, SciPy, OR-Tools; about
    # 165 MB) in the background when it starts, so a coordinator's first run does not wait the
    # seconds a new process takes to import them. `false`: started by the first run instead.
    matching_process_at_start: bool = True

    # Comma-separated list of frontend origins allowed by CORS.
    cors_origins: Annotated[list[str], NoDecode] = []

    # Secrets the service reads back (webhook signing secrets, queued mail) are encrypted at rest
    # (app.core.encryption): comma-separated Fernet keys (`python -m app secrets new-key`), newest
    # first; the first seals, any opens; `python -m app secrets rotate` re-seals under the first.
    # Required in production. Elsewhere, when unset, one key is made and kept in
    # DATA_ENCRYPTION_KEY_FILE, for a development machine only (docs/data-rights.md).
    data_encryption_keys: Annotated[list[SecretStr], NoDecode] = []
    data_encryption_key_file: Path = Path("mutual_aid.key")

    # `/metrics` answers only `Authorization: Bearer <METRICS_TOKEN>` when set (401 otherwise);
    # open when unset, for a deployment that serves it only on an internal network (README, Operating it).
    metrics_token: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_origins(cls, data: dict[str, object]) -> dict[str, object]:
        raw = data.get("cors_origins") if isinstance(data, dict) else None
        if isinstance(raw, str):
            data["cors_origins"] = [o.strip() for o in raw.split(",") if o.strip()]
        return data

    @model_validator(mode="before")
    @classmethod
    def _split_keys(cls, data: dict[str, object]) -> dict[str, object]:
        raw = data.get("data_encryption_keys") if isinstance(data, dict) else None
        if isinstance(raw, str):
            data["data_encryption_keys"] = [k.strip() for k in raw.split(",") if k.strip()]
        return data

    @field_validator("data_encryption_keys")
    @classmethod
    def _fernet_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                # By position, never the key: this message reaches logs.
                raise ValueError(
                    f"DATA_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 URL-safe base64 bytes; "
                    "`python -m app secrets new-key` makes one)"
                ) from None
        return keys

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, token: object) -> object:
        return None if token == "" else token

    @field_validator("metrics_token")
    @classmethod
    def _long_metrics_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("METRICS_TOKEN must be at least 16 characters")
        return token

    @model_validator(mode="before")
    @classmethod
    def _one_trust_limit_at_a_time(cls, data: dict[str, object]) -> dict[str, object]:
        """`TRUST_NEW__NEEDS_PER_DAY=2` changes that one limit; the tier's others keep their defaults."""
        for tier, default in TRUST_DEFAULTS.items():
            raw = data.get(f"trust_{tier}") if isinstance(data, dict) else None
            if isinstance(raw, dict):
                data[f"trust_{tier}"] = {**default.model_dump(), **raw}
        return data

    @field_validator(
        "rate_limit_member",
        "rate_limit_key",
        "rate_limit_anonymous",
        "rate_limit_auth_failures",
        "rate_limit_reports",
        "rate_limit_reset_mail",
    )
    @classmethod
    def _limit(cls, value: str) -> str:
        limits.parse(value)  # raises ValueError on a malformed limit
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("smtp://", "smtps://")):
            raise ValueError("SMTP_URL must start with smtp:// (STARTTLS when offered) or smtps:// (TLS)")
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_subject(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mailto:", "https://")):
            raise ValueError("VAPID_SUBJECT must be a mailto: or https:// URI (RFC 8292 2.1)")
        return value

    @property
    def push_subject(self) -> str:
        """VAPID's `sub` claim: VAPID_SUBJECT, else `mailto:` and EMAIL_FROM's address."""
        if self.vapid_subject:
            return self.vapid_subject
        address = self.email_from.rpartition("<")[2].rstrip("> ").strip()
        return f"mailto:{address}"

    @property
    def api_url(self) -> str:
        """API_BASE_URL (else PUBLIC_BASE_URL), without a trailing slash."""
        return (self.api_base_url or self.public_base_url).rstrip("/")

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> "Settings":
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("WEBHOOK_LEASE_SECONDS must exceed WEBHOOK_TIMEOUT_SECONDS")
        return self

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> "Settings":
        if self.environment == "production":
            if "jwt_secret" not in self.model_fields_set:
                raise ValueError("JWT_SECRET must be set in production")
            if len(self.jwt_secret) < 32:
                raise ValueError("JWT_SECRET must be at least 32 characters in production")
            if not self.data_encryption_keys:
                # A key made on the spot would be lost with the machine, and every secret with it.
                raise ValueError(
                    "DATA_ENCRYPTION_KEYS must be set in production (`python -m app secrets new-key`)"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()

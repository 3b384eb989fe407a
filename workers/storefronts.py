"""The storefronts the HTTP API serves, and where their webhooks go: one JSON file
(`CSP_STOREFRONTS_FILE`), read by `csp-orders api` and `csp-orders worker` alike.

    {"storefronts": {"contoso-shop": {
        "api_keys": [{"id": "k2026a", "sha256": "<hex SHA-256 of the whole key>"}],
        "rate_limit_per_minute": 600,
        "webhook": {"url": "https://shop.example.com/csp-events",
                    "secret_env": "CSP_WEBHOOK_SECRET_CONTOSO"}}}}

API keys are never on disk in plain text: the file keeps each key's SHA-256 (an API key is 32
random bytes, not a password: a fast hash of it cannot be searched backwards), under the key's
id, which is the part of the key before the dot (`csp_k2026a.<secret>`), so a presented key is
looked up by id and compared in constant time. A storefront may have several keys at once:
rotating is adding the new key, moving the storefront to it, then removing the old one
(`csp-orders api-key new --storefront ID` prints a key and its entry). The webhook's signing
secret is read from the environment variable the file names, never from the file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    TypeAdapter,
    ValidationError,
)

from activities.webhooks import StorefrontSettingsError, UnknownStorefront, WebhookEndpoint
from clients.contract import StorefrontId

FILE_VARIABLE = "CSP_STOREFRONTS_FILE"
RECHECK_SECONDS = 1.0
log = structlog.get_logger("csp_orders.storefronts")
KEY_PREFIX = "csp_"
KeyId = str


class ApiKeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    id: str = Field(pattern=r"^[A-Za-z0-9-]{1,32}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: HttpUrl
    secret_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")


class StorefrontSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_keys: list[ApiKeyEntry] = Field(default_factory=list)
    rate_limit_per_minute: int = Field(600, ge=1, le=1_000_000)
    webhook: WebhookSettings | None = None


class StorefrontDirectory(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    storefronts: dict[StorefrontId, StorefrontSettings] = Field(default_factory=dict)

    def storefront_of_key(self, presented: str) -> str | None:
        """The storefront whose key `presented` is; None for no valid key. The comparison of
        hashes takes the same time whatever matches (and a key of an unknown id is compared
        too), so timing tells nothing about a key."""
        key_id = key_id_of(presented)
        digest = key_digest(presented)
        found: str | None = None
        for storefront, settings in self.storefronts.items():
            for entry in settings.api_keys:
                same_id = hmac.compare_digest(entry.id.encode(), (key_id or "").encode())
                if hmac.compare_digest(entry.sha256.encode(), digest.encode()) and same_id:
                    found = storefront
        return found

    def webhook_endpoints(
        self, environ: Mapping[str, str] = os.environ
    ) -> dict[str, WebhookEndpoint]:
        """Each storefront's webhook, its secret read from the environment. A secret that is
        not set is a configuration error (`StorefrontsNotConfigured`), never a silent skip."""
        endpoints = {}
        for storefront, settings in self.storefronts.items():
            if settings.webhook is None:
                continue
            secret = environ.get(settings.webhook.secret_env)
            if not secret:
                raise StorefrontsNotConfigured(
                    f"the webhook secret of storefront {storefront} is not set: "
                    f"{settings.webhook.secret_env}"
                )
            endpoints[storefront] = WebhookEndpoint(
                url=str(settings.webhook.url), secret=SecretStr(secret)
            )
        return endpoints


class StorefrontsFile:
    """The storefronts file, read again when it changes (checked at most once a second): keys
    are added and revoked, webhooks added or changed, without restarting the API or the
    workers. A file that became invalid is not used: the last valid one stays, and why is
    logged. It is the workers' `WebhookDirectory` (activities/webhooks.py)."""

    def __init__(self, path: Path | None, directory: StorefrontDirectory | None = None) -> None:
        self._path = path
        self._seen = self._stamp()  # (before reading: a change meanwhile is read next time)
        self._directory = directory if directory is not None else load_storefronts(path or "")
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[int, ...] | None:
        if self._path is None:
            return None
        try:
            stat = os.stat(self._path)
        except OSError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)

    def current(self) -> StorefrontDirectory:
        if self._path is None or time.monotonic() - self._checked < RECHECK_SECONDS:
            return self._directory
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._stamp()
            if stamp != self._seen:
                self._seen = stamp
                try:
                    self._directory = load_storefronts(self._path)
                    try:
                        self._directory.webhook_endpoints()
                    except StorefrontsNotConfigured as missing:  # read at each attempt
                        log.warning("a webhook cannot be delivered yet", reason=str(missing))
                    log.info(
                        "storefronts file read again", storefronts=len(self._directory.storefronts)
                    )
                except StorefrontsNotConfigured as error:
                    log.warning(
                        "storefronts file not used; the last valid one stays", reason=str(error)
                    )
            return self._directory

    def endpoint(self, storefront: str) -> WebhookEndpoint | None:
        """The storefront's webhook (its secret from the environment); None: it has none.
        `UnknownStorefront` when the file does not name it."""
        settings = self.current().storefronts.get(storefront)
        if settings is None:
            raise UnknownStorefront(storefront)
        if settings.webhook is None:
            return None
        secret = os.environ.get(settings.webhook.secret_env)
        if not secret:
            raise StorefrontsNotConfigured(
                f"the webhook secret of storefront {storefront} is not set: "
                f"{settings.webhook.secret_env}"
            )
        return WebhookEndpoint(url=str(settings.webhook.url), secret=SecretStr(secret))


class StorefrontsNotConfigured(StorefrontSettingsError):
    """The storefronts file cannot be used; `str()` is one line naming the file and why."""


def key_id_of(presented: str) -> str | None:
    if not presented.startswith(KEY_PREFIX) or "." not in presented:
        return None
    return presented.removeprefix(KEY_PREFIX).partition(".")[0]


def key_digest(presented: str) -> str:
    return hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()


def new_api_key(key_id: str | None = None) -> tuple[str, ApiKeyEntry]:
    """A fresh API key and the entry the storefronts file keeps of it (its hash only)."""
    key_id = key_id or secrets.token_hex(4)
    key = f"{KEY_PREFIX}{key_id}.{secrets.token_urlsafe(32)}"
    return key, ApiKeyEntry(id=key_id, sha256=key_digest(key))


def load_storefronts(path: str | Path | None = None) -> StorefrontDirectory:
    """The storefronts file at `path` (default: `CSP_STOREFRONTS_FILE`); no storefront when
    neither names one."""
    where = path or os.environ.get(FILE_VARIABLE)
    if not where:
        return StorefrontDirectory()
    try:
        return StorefrontDirectory.model_validate(json.loads(Path(where).read_text("utf-8")))
    except OSError as error:
        raise StorefrontsNotConfigured(
            f"cannot read the storefronts file {where}: {error.strerror}"
        ) from None
    except ValueError as error:  # JSON or validation
        reason = (
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
            )
            if isinstance(error, ValidationError)
            else "it is not JSON"
        )
        raise StorefrontsNotConfigured(
            f"the storefronts file {where} is not valid: {reason}"
        ) from None


def _edit(path: Path, change: Callable[[StorefrontDirectory], None]) -> None:
    """Change the storefronts file in place (written to a new file, then renamed over it)."""
    directory = load_storefronts(path) if path.exists() else StorefrontDirectory()
    change(directory)
    text = directory.model_dump_json(indent=2, exclude_defaults=False) + "\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def add_api_key(path: Path, storefront: str, key_id: str | None = None) -> tuple[str, ApiKeyEntry]:
    """A new key for `storefront` (created in the file if new); the file keeps its hash."""
    key, entry = new_api_key(key_id)

    try:
        TypeAdapter(StorefrontId).validate_python(storefront)
        ApiKeyEntry(id=entry.id, sha256=entry.sha256)
    except ValidationError:
        raise StorefrontsNotConfigured(
            "a storefront id is 1 to 32 lower-case letters, digits and '-'; a key id 1 to 32 "
            "letters, digits and '-'"
        ) from None

    def add(directory: StorefrontDirectory) -> None:
        settings = directory.storefronts.setdefault(storefront, StorefrontSettings())
        if any(existing.id == entry.id for existing in settings.api_keys):
            raise StorefrontsNotConfigured(f"storefront {storefront} has a key {entry.id} already")
        settings.api_keys.append(entry)

    _edit(path, add)
    return key, entry


def revoke_api_key(path: Path, storefront: str, key_id: str) -> None:
    def revoke(directory: StorefrontDirectory) -> None:
        settings = directory.storefronts.get(storefront)
        if settings is None or not any(k.id == key_id for k in settings.api_keys):
            raise StorefrontsNotConfigured(f"storefront {storefront} has no key {key_id}")
        settings.api_keys = [k for k in settings.api_keys if k.id != key_id]

    _edit(path, revoke)

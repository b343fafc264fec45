"""Secrets at rest that the platform must read back (webhook signing secrets, later
connector credentials): Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

Passwords, API keys and tokens are *hashed* instead (``tenancy.models.hash_secret``);
this module is only for secrets we need in clear to compute an HMAC or call a vendor.

Keys come from ``SMARKETING_ENCRYPTION_KEY`` (environment, or the setting of that name):
one or more Fernet keys separated by commas. The first one encrypts; every one of them
decrypts, so a key is rotated by prepending the new one and re-encrypting at leisure.
Without the variable, a key derived from ``SECRET_KEY`` (HKDF-SHA256) is used; it is
also always tried last when decrypting, so setting the variable later does not lose
the secrets written before. Rotating ``SECRET_KEY`` without the variable set makes them
unreadable: production sets the variable (see docs/tracker.md).
"""

from __future__ import annotations

import base64
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ENV_NAME = "SMARKETING_ENCRYPTION_KEY"
_HKDF_INFO = b"smarketing secrets at rest v1"


class DecryptionError(Exception):
    """The ciphertext was not written with any of the configured keys, or was altered."""


def generate_key() -> str:
    """A new key for ``SMARKETING_ENCRYPTION_KEY``."""
    return Fernet.generate_key().decode()


def _derived_key() -> bytes:
    secret = (settings.SECRET_KEY or "").encode()
    if not secret:
        raise ImproperlyConfigured(f"Set {ENV_NAME} or SECRET_KEY to encrypt secrets")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
    return base64.urlsafe_b64encode(raw)


def _fernet() -> MultiFernet:
    # Read on every call (cheap): tests and key rotation change it without a restart.
    configured = os.environ.get(ENV_NAME) or getattr(settings, ENV_NAME, "") or ""
    keys: list[Fernet] = []
    for raw in (part.strip() for part in configured.split(",")):
        if not raw:
            continue
        try:
            keys.append(Fernet(raw.encode()))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"{ENV_NAME} must be Fernet keys (32 url-safe base64 bytes), comma-separated"
            ) from error
    keys.append(Fernet(_derived_key()))
    return MultiFernet(keys)


def encrypt(plaintext: str) -> str:
    """The ciphertext (ASCII, safe for a text column) of ``plaintext``."""
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError) as error:
        raise DecryptionError("cannot decrypt: unknown key or altered data") from error

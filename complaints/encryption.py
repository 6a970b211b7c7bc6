"""Encryption at rest: the database never holds a narrative in plaintext, and the media
folder never holds an attachment in plaintext."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise RuntimeError("FIELD_ENCRYPTION_KEYS is empty: no key to encrypt with")
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    """The current keys, newest first; any of them decrypts, the first encrypts."""
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


@lru_cache(maxsize=4)
def _newest(key: str) -> Fernet:
    return Fernet(key)


def encrypt_bytes(data: bytes) -> bytes:
    """A Fernet token of ``data`` under the newest key (an attachment's whole content)."""
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    """The plaintext of a token made by any current key. Raises ``InvalidToken``."""
    return fernet().decrypt(token)


def rotate_token(token: bytes) -> bytes | None:
    """The token re-encrypted under the newest key, or None when it already is one.

    Skipping tokens the newest key already opens makes a rotation run idempotent and lets
    an interrupted run resume cheaply. Raises ``InvalidToken`` when no current key opens it.
    """
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        raise RuntimeError("FIELD_ENCRYPTION_KEYS is empty: no key to encrypt with")
    try:
        _newest(keys[0]).decrypt(token)
    except InvalidToken:
        return _fernet(keys).rotate(token)
    return None


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token. Not searchable or orderable in the database, by design."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return fernet().encrypt(str(value).encode()).decode()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return fernet().decrypt(value.encode()).decode()

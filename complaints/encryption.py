"""Encryption at rest for free text: the database never holds a narrative in plaintext."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
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

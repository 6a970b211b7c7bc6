"""Receipt keys: how an anonymous reporter, and only they, gets back to their report.

A key is 20 symbols of a 31-symbol alphabet (99 bits) in five groups of four, shown once.
The database keeps only its Argon2id hash. The hash is deterministic (one salt for all
keys, from settings) so the key alone finds its case through an index: per-record salts
defend low-entropy passwords against precomputation, and 99 random bits need no such help.
Each guess still costs a full Argon2id computation.
"""

from __future__ import annotations

import re
import secrets

from argon2.low_level import Type, hash_secret_raw
from django.conf import settings

from complaints.models import REFERENCE_ALPHABET

GROUPS = 5
GROUP_SIZE = 4
KEY_LENGTH = GROUPS * GROUP_SIZE


def new_receipt_key() -> str:
    return "-".join(
        "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(GROUP_SIZE))
        for _ in range(GROUPS)
    )


def normalise(key: str) -> str | None:
    """The key as issued, from what a person typed (any case, spaces or dashes), or None
    when it cannot be a key at all."""
    symbols = re.sub(r"[\s\-]", "", (key or "").upper())
    if len(symbols) != KEY_LENGTH:
        return None
    if any(s not in REFERENCE_ALPHABET for s in symbols):
        return None
    return "-".join(symbols[i:i + GROUP_SIZE] for i in range(0, KEY_LENGTH, GROUP_SIZE))


def receipt_key_hash(key: str) -> str:
    """The stored form of a (normalised) key: Argon2id, 32 bytes, hex."""
    cost = settings.RECEIPT_KEY_ARGON2
    return hash_secret_raw(
        secret=key.encode(), salt=settings.RECEIPT_KEY_SALT.encode(),
        time_cost=cost["time_cost"], memory_cost=cost["memory_cost"],
        parallelism=cost["parallelism"], hash_len=32, type=Type.ID,
    ).hex()

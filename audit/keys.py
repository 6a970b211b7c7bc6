"""The keys that sign checkpoints (and proofs of filing), and how a verifier names them.

The private key is ``AUDIT_SIGNING_KEY`` (base64 of 32 raw Ed25519 bytes). Its public half
is published at ``GET /api/v1/audit/public-key/`` with a ``key_id``; keys retired by a
rotation stay published through ``AUDIT_PREVIOUS_PUBLIC_KEYS`` so older checkpoints still
verify. A verifier needs only these public keys, never the secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from django.conf import settings

ALGORITHM = "Ed25519"


class PublicKeyError(ValueError):
    """Public-key text that is none of the accepted forms."""


def signing_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(settings.AUDIT_SIGNING_KEY, validate=True)
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def key_id(key: Ed25519PublicKey) -> str:
    # Names the key, not the deployment: the same key always has the same id.
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519-" + hashlib.sha256(raw).hexdigest()[:16]


def signed_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _from_base64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))


def published_keys() -> dict[str, Ed25519PublicKey]:
    """The keys this deployment publishes, by key id: the signing key's public half (when
    this machine has it) and every retired one."""
    keys: dict[str, Ed25519PublicKey] = {}
    if settings.AUDIT_SIGNING_KEY:
        public = signing_key().public_key()
        keys[key_id(public)] = public
    for text in getattr(settings, "AUDIT_PREVIOUS_PUBLIC_KEYS", []):
        public = _from_base64(text)
        keys[key_id(public)] = public
    return keys


def published_keys_document() -> dict[str, Any]:
    """What ``GET audit/public-key/`` answers (and what ``--public-key`` reads back)."""
    return {"keys": [{"key_id": kid, "algorithm": ALGORITHM, "public_key": public_key_text(key),
                      "current": index == 0 and bool(settings.AUDIT_SIGNING_KEY)}
                     for index, (kid, key) in enumerate(published_keys().items())]}


def parse_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Public keys as a verifier may hold them: the JSON ``GET audit/public-key/`` returns,
    a PEM ``PUBLIC KEY`` block, or the base64 of the 32 raw bytes (one ``public_key`` of
    that JSON). Raises ``PublicKeyError`` for anything else."""
    text = text.strip()
    try:
        if text.startswith("{"):
            keys = [_from_base64(item["public_key"]) for item in json.loads(text)["keys"]]
        elif text.startswith("-----BEGIN"):
            loaded = load_pem_public_key(text.encode())
            if not isinstance(loaded, Ed25519PublicKey):
                raise PublicKeyError("the PEM key is not an Ed25519 key")
            keys = [loaded]
        else:
            keys = [_from_base64(text)]
    except PublicKeyError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise PublicKeyError(f"not a public key: {exc}") from exc
    if not keys:
        raise PublicKeyError("no public key given")
    return {key_id(key): key for key in keys}

"""API keys: how they look, how they are made, and the only form in which they are stored (SHA-384 hex)."""

from __future__ import annotations

import hashlib
import re
import secrets

from aiservice.errors import Unauthenticated

KEY_PREFIX = "cf-"  # the codeflash client refuses keys without it
_KEY_SHAPE = re.compile(r"cf-[A-Za-z0-9_\-]{8,256}")
_BEARER = re.compile(r"Bearer\s+(\S+)\s*", re.IGNORECASE)


def generate_key() -> str:
    """A new key with 256 bits of entropy. Show it once; store only hash_key(key)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha384(key.encode()).hexdigest()


def key_id_of(key_hash: str) -> str:
    """A short public id for listing and revoking; a prefix of the hash, never of the key."""
    return key_hash[:16]


def key_from_authorization(header: str | None) -> str:
    """The key from an `Authorization: Bearer cf-...` header, or Unauthenticated saying what is wrong."""
    if not header:
        raise Unauthenticated("missing Authorization header: send Authorization: Bearer cf-...")
    match = _BEARER.fullmatch(header)
    if match is None:
        raise Unauthenticated("malformed Authorization header: expected Bearer cf-...")
    key = match.group(1)
    if _KEY_SHAPE.fullmatch(key) is None:
        raise Unauthenticated("malformed API key: keys look like cf- followed by letters, digits, - or _")
    return key

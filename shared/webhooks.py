"""Standard Webhooks signing: `v1,` + base64(HMAC-SHA256(secret, id.timestamp.body)).

Secrets are `whsec_` + base64 of 24-64 random bytes and are validated strictly (the reference
verifier decodes leniently, so a malformed secret would sign and then never verify).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets

PREFIX = "whsec_"


class InvalidSecret(ValueError):
    pass


def generate_secret(nbytes: int = 32) -> str:
    return PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode()


def secret_bytes(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise InvalidSecret("a webhook secret starts with 'whsec_'")
    try:
        raw = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise InvalidSecret("a webhook secret is whsec_ + standard base64") from exc
    if not 24 <= len(raw) <= 64:
        raise InvalidSecret("a webhook secret holds 24 to 64 random bytes")
    return raw


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signature_header(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per active secret (several during a rotation)."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    expected = sign(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, part) for part in header.split())

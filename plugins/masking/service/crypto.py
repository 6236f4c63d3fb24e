"""Keys, authenticated encryption, blind indexes and pseudonyms.

Keys come from the environment only — never plugins.toml, never the database:

* ``KEHU_MASKING_KEY``: the current key (32 random bytes, URL-safe base64 or hex;
  ``python -m kehu.plugins.masking.service.crypto`` prints one). New values are encrypted with it.
* ``KEHU_MASKING_PREVIOUS_KEYS``: comma-separated keys still accepted for reading
  (and blind-index lookups) while ``kehu masking rotate-key`` re-encrypts.
* ``KEHU_MASKING_PSEUDONYM_KEY`` (optional): the key of HASH pseudonyms. Without
  it pseudonyms derive from the current key and change when it is rotated.

From each key, HKDF-SHA256 derives separate sub-keys for encryption (AES-256-GCM)
and for the blind index (HMAC-SHA256), so neither use weakens the other.

A sealed value is text, so it fits the column it replaces:
``kehu:e1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``. The field's policy key
is the associated data, so a ciphertext moved into another field does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ENV = "KEHU_MASKING_KEY"
PREVIOUS_KEYS_ENV = "KEHU_MASKING_PREVIOUS_KEYS"
PSEUDONYM_KEY_ENV = "KEHU_MASKING_PSEUDONYM_KEY"
PREFIX = "kehu:e1:"
NONCE_BYTES = 12


class KeyError_(Exception):
    """A key is missing or unreadable (the message names the variable, never the key)."""


def generate_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _parse_key(text: str, variable: str) -> bytes:
    text = text.strip()
    raw: bytes | None = None
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raw = bytes.fromhex(text)
    else:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise KeyError_(
            f"{variable} must be 32 random bytes, URL-safe base64 or hex (python -m kehu.plugins.masking.service.crypto prints one)"
        )
    return raw


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kehu-masking/" + purpose).derive(key)


@dataclass(frozen=True)
class Key:
    raw: bytes = field(repr=False)

    @property
    def id(self) -> str:
        # Names the key in ciphertexts; reveals nothing about it (a keyed digest).
        return hmac.new(self.raw, b"kehu-masking/key-id", hashlib.sha256).hexdigest()[:8]

    @property
    def aead(self) -> AESGCM:
        return AESGCM(_derive(self.raw, b"encrypt"))

    @property
    def index_key(self) -> bytes:
        return _derive(self.raw, b"blind-index")


class Keyring:
    """The current key and the previous ones still accepted."""

    def __init__(self, current: Key, previous: list[Key] | None = None, pseudonym_key: bytes | None = None):
        self.current = current
        self.previous = [k for k in previous or [] if k.id != current.id]
        self._by_id = {k.id: k for k in [current, *self.previous]}
        self._aead = {k.id: k.aead for k in self._by_id.values()}
        self._index_keys = [k.index_key for k in [current, *self.previous]]
        self.pseudonym_key = pseudonym_key or _derive(current.raw, b"pseudonym")

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "Keyring | None":
        """The keyring of the environment, ``None`` when ``KEHU_MASKING_KEY`` is unset."""
        env = os.environ if environ is None else environ
        text = env.get(KEY_ENV, "").strip()
        pseudonym = env.get(PSEUDONYM_KEY_ENV, "").strip()
        if not text:
            return None
        current = Key(_parse_key(text, KEY_ENV))
        previous = [
            Key(_parse_key(part, PREVIOUS_KEYS_ENV))
            for part in env.get(PREVIOUS_KEYS_ENV, "").split(",")
            if part.strip()
        ]
        return cls(current, previous, _parse_key(pseudonym, PSEUDONYM_KEY_ENV) if pseudonym else None)

    def knows(self, key_id: str) -> bool:
        return key_id in self._by_id

    # -- encryption -----------------------------------------------------------------

    def seal(self, value: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        body = self._aead[self.current.id].encrypt(nonce, value.encode("utf-8"), context.encode())
        token = base64.urlsafe_b64encode(nonce + body).decode().rstrip("=")
        return f"{PREFIX}{self.current.id}:{token}"

    def open(self, sealed: str, context: str) -> str:
        key_id, _, token = sealed[len(PREFIX) :].partition(":")
        aead = self._aead.get(key_id)
        if aead is None:
            raise UnknownKey(key_id)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode("utf-8")
        except InvalidTag:
            raise TamperedValue(context) from None

    def needs_reseal(self, stored: str) -> bool:
        return is_sealed(stored) and not stored.startswith(f"{PREFIX}{self.current.id}:")

    # -- blind index & pseudonyms ------------------------------------------------------

    def blind_indexes(self, value: str, context: str) -> list[str]:
        """The digests of ``value`` under every known key: the current one first."""
        message = f"{context}\x00{value}".encode()
        return [hmac.new(k, message, hashlib.sha256).hexdigest() for k in self._index_keys]


class UnknownKey(Exception):
    def __init__(self, key_id: str):
        super().__init__(
            f"a value is encrypted with key {key_id}, which is neither {KEY_ENV} nor in {PREVIOUS_KEYS_ENV}"
        )
        self.key_id = key_id


class TamperedValue(Exception):
    def __init__(self, context: str):
        super().__init__(f"an encrypted value of {context} failed authentication (tampered or moved)")


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def pseudonym_key_from_environment(keyring: Keyring | None, environ: dict[str, str] | None = None) -> bytes | None:
    """The key of HASH pseudonyms: ``KEHU_MASKING_PSEUDONYM_KEY``, else derived from
    the current key, else ``None`` (HASH is then unavailable)."""
    env = os.environ if environ is None else environ
    text = env.get(PSEUDONYM_KEY_ENV, "").strip()
    if text:
        return _parse_key(text, PSEUDONYM_KEY_ENV)
    return keyring.pseudonym_key if keyring is not None else None


def pseudonym(key: bytes, value: str) -> str:
    """A keyed, stable pseudonym: equal values give equal pseudonyms (analysts can
    count and join), and without the key nobody can compute or reverse one."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return "anon-" + base64.b32encode(digest[:10]).decode().rstrip("=").lower()


if __name__ == "__main__":  # python -m kehu.plugins.masking.service.crypto: print a new key
    print(generate_key())

"""Personal data: ID-number validation, field encryption, keyed lookup hashes and masking.

Names, ID numbers, phones and addresses are stored encrypted (`FieldCipher`); ID numbers and full names also
as keyed hashes (`lookup_hash`, `id_hash`) so they can be found by exact value without decrypting; responses
show them masked (`mask_*`) unless the caller holds `pii:read`. No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, overload
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from stdnum.cn import ric

from uplift.common.settings import DEV_LOOKUP_KEY, DEV_PII_KEY

__all__ = [
    "DEV_LOOKUP_KEY",
    "DEV_PII_KEY",
    "DEV_PII_KEY_ID",
    "FieldCipher",
    "FieldDecryptionError",
    "IdNumber",
    "InvalidIdNumber",
    "LookupKind",
    "Sex",
    "decode_key",
    "id_hash",
    "lookup_hash",
    "mask_address",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "normalise_for_lookup",
    "validate_id_number",
]

DEV_PII_KEY_ID = "dev1"
KEY_BYTES = 32  # AES-256; also the lookup (HMAC) key size
_BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")

Sex = Literal["male", "female"]
LookupKind = Literal["id", "name", "phone"]


def decode_key(key_b64: str, *, what: str = "key") -> bytes:
    """Decode a base64 key from the settings and check it is 32 bytes; the error never echoes the key."""
    try:
        key = base64.b64decode(key_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {what} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"the {what} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


# ------------------------------------------------------------------------------------------- ID numbers


class InvalidIdNumber(ValueError):
    """An ID number that cannot be right; `reason` says why in words an operator can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, repr=False)
class IdNumber:
    """A valid resident ID number (GB 11643-1999) and what it encodes."""

    value: str
    birth_date: date
    sex: Sex
    region: str

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        # Masked so the number does not end up in logs and tracebacks by accident.
        return f"IdNumber({mask_id_number(self.value)!r})"


# Province-level codes of GB/T 2260 (and 81-83 for Hong Kong, Macao and Taiwan residence permits); foreigners'
# permanent residence ID cards of the 2023 format begin with 9.
_PROVINCE_CODES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
    }
    | {"44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83"}
)
_EARLIEST_BIRTH_YEAR = 1900


def _parse_sex(sex: str) -> Sex:
    normalised = sex.strip().lower()
    if normalised == "male":
        return "male"
    if normalised == "female":
        return "female"
    raise ValueError(f"sex must be 'male' or 'female', got {sex!r}")


def validate_id_number(
    value: str, *, birth_date: date | None = None, sex: str | None = None, today: date | None = None
) -> IdNumber:
    """Check an 18-character ID number and, when given, that `birth_date` and `sex` agree with it.

    Full-width characters, surrounding blanks and a lower-case `x` are accepted and normalised. `today`
    (default: today in Asia/Shanghai) bounds the birth date. Raises InvalidIdNumber with the reason.
    """
    number = unicodedata.normalize("NFKC", value).strip().upper()
    if len(number) != 18:
        raise InvalidIdNumber(f"an ID number has 18 characters, this one has {len(number)}")
    if not (number[:17].isascii() and number[:17].isdigit()):
        raise InvalidIdNumber("the first 17 characters of an ID number must be digits")
    if not (number[17].isascii() and (number[17].isdigit() or number[17] == "X")):
        raise InvalidIdNumber("the last character of an ID number must be a digit or X")
    expected_check = ric.calc_check_digit(number)
    if number[17] != expected_check:
        raise InvalidIdNumber(f"check digit should be {expected_check}, not {number[17]}")
    region = number[:6]
    if number[:2] not in _PROVINCE_CODES and number[0] != "9":
        raise InvalidIdNumber(f"region code {region} is not a Chinese administrative division code")
    born_text = number[6:14]
    try:
        born = date(int(born_text[:4]), int(born_text[4:6]), int(born_text[6:]))
    except ValueError:
        raise InvalidIdNumber(f"birth date {born_text} does not exist") from None
    if born.year < _EARLIEST_BIRTH_YEAR:
        raise InvalidIdNumber(f"birth date {born_text} is before {_EARLIEST_BIRTH_YEAR}")
    today = today or datetime.now(_BUSINESS_ZONE).date()
    if born > today:
        raise InvalidIdNumber(f"birth date {born_text} is in the future")
    encoded_sex: Sex = "male" if int(number[16]) % 2 == 1 else "female"
    if birth_date is not None and birth_date != born:
        raise InvalidIdNumber(
            f"birth date in the ID number is {born.isoformat()} but {birth_date.isoformat()} was sent"
        )
    if sex is not None and _parse_sex(sex) != encoded_sex:
        raise InvalidIdNumber(f"sex in the ID number is {encoded_sex} but {_parse_sex(sex)} was sent")
    return IdNumber(value=number, birth_date=born, sex=encoded_sex, region=region)


# ------------------------------------------------------------------------------------------- encryption


class FieldDecryptionError(ValueError):
    """A stored value that cannot be decrypted: damaged, tampered with, moved, or under an unknown key."""


_FORMAT_VERSION = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class FieldCipher:
    """AES-256-GCM encryption of one text value per column, with key rotation.

    A token is bytes laid out as::

        version (1 byte, 0x01) | n = len(key_id) (1 byte) | key_id (n ASCII bytes) | nonce (12 bytes)
        | ciphertext + GCM tag (16 bytes)

    The header (version and key id) and the optional associated data are authenticated, so a value cannot be
    moved to another column (pass the column name, e.g. `"persons.name"`) or relabelled with another key id.
    Rotation: put the new key first (`current_key_id`) and keep the old ones in `keys`; old tokens still
    decrypt, new ones use the current key, `needs_rotation` finds the rows to re-encrypt.
    """

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise ValueError(f"the current key id {current_key_id!r} has no key")
        for key_id, key in keys.items():
            if not _KEY_ID_PATTERN.fullmatch(key_id):
                raise ValueError(f"key id {key_id!r} must be 1-64 of A-Z, a-z, 0-9, '_', '.', '-'")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be {KEY_BYTES} bytes, got {len(key)}")
        self._ciphers = {key_id: AESGCM(bytes(key)) for key_id, key in keys.items()}
        self.current_key_id = current_key_id

    @classmethod
    def from_settings(cls, key_b64: str, key_id: str, old_keys: str = "") -> FieldCipher:
        """From `UPLIFT_PII_KEY` (base64), `UPLIFT_PII_KEY_ID` and `UPLIFT_PII_OLD_KEYS` (`id:base64,...`)."""
        keys = {key_id: decode_key(key_b64, what=f"PII key {key_id!r}")}
        for entry in filter(None, (part.strip() for part in old_keys.split(","))):
            old_id, sep, old_b64 = entry.partition(":")
            if not sep or not old_id.strip():
                raise ValueError("old PII keys must be written as 'id:base64,id:base64'")
            old_id = old_id.strip()
            if old_id in keys:
                raise ValueError(f"PII key id {old_id!r} is given twice")
            keys[old_id] = decode_key(old_b64, what=f"PII key {old_id!r}")
        return cls(keys, key_id)

    @staticmethod
    def _header(key_id: str) -> bytes:
        encoded = key_id.encode("ascii")
        return bytes([_FORMAT_VERSION, len(encoded)]) + encoded

    @staticmethod
    def _aad(header: bytes, associated_data: str | None) -> bytes:
        return header + b"\x00" + (associated_data or "").encode("utf-8")

    def encrypt(self, plaintext: str, *, associated_data: str | None = None) -> bytes:
        """Encrypt under the current key with a fresh random nonce."""
        header = self._header(self.current_key_id)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.current_key_id].encrypt(
            nonce, plaintext.encode("utf-8"), self._aad(header, associated_data)
        )
        return header + nonce + sealed

    @staticmethod
    def key_id_of(token: bytes) -> str:
        """The id of the key a token was encrypted with."""
        if len(token) < 2 or token[0] != _FORMAT_VERSION:
            raise FieldDecryptionError("not an encrypted field value of a known format")
        length = token[1]
        if len(token) < 2 + length + _NONCE_BYTES + _TAG_BYTES:
            raise FieldDecryptionError("the encrypted value is truncated")
        try:
            return token[2 : 2 + length].decode("ascii")
        except UnicodeDecodeError:
            raise FieldDecryptionError("the encrypted value has a damaged key id") from None

    def decrypt(self, token: bytes, *, associated_data: str | None = None) -> str:
        """Decrypt a token of `encrypt` under any known key; FieldDecryptionError if it does not verify."""
        token = bytes(token)  # a memoryview from the driver is fine too
        key_id = self.key_id_of(token)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise FieldDecryptionError(
                f"the value was encrypted with key {key_id!r}, which is not configured"
            )
        header_length = 2 + len(key_id)
        header = token[:header_length]
        nonce = token[header_length : header_length + _NONCE_BYTES]
        sealed = token[header_length + _NONCE_BYTES :]
        try:
            plaintext = cipher.decrypt(nonce, sealed, self._aad(header, associated_data))
        except InvalidTag:
            raise FieldDecryptionError(
                "the encrypted value does not verify: damaged, tampered with or stored under another column"
            ) from None
        return plaintext.decode("utf-8")

    def needs_rotation(self, token: bytes) -> bool:
        """True when the token is under an older key and should be re-encrypted."""
        return self.key_id_of(bytes(token)) != self.current_key_id

    def reencrypt(self, token: bytes, *, associated_data: str | None = None) -> bytes:
        """Decrypt under whatever key and encrypt under the current one (for a rotation job)."""
        return self.encrypt(
            self.decrypt(token, associated_data=associated_data), associated_data=associated_data
        )


# ---------------------------------------------------------------------------------------- lookup hashes

# Middle dots that people type in minority and foreign names (阿依古丽·买买提); NFKC leaves them distinct.
_NAME_DOTS = str.maketrans({"\u2022": "·", "\u30fb": "·", "\u2027": "·", "\u00b7": "·", "\uff0e": "·"})
_WHITESPACE = re.compile(r"\s+")


def normalise_for_lookup(value: str, kind: LookupKind) -> str:
    """The canonical form hashed for `kind`: ID numbers upper-cased, names NFKC-folded without blanks,
    phones as digits without the +86 country code."""
    text = unicodedata.normalize("NFKC", value)
    if kind == "id":
        normalised = _WHITESPACE.sub("", text).upper()
    elif kind == "name":
        normalised = _WHITESPACE.sub("", text).translate(_NAME_DOTS).casefold()
    elif kind == "phone":
        normalised = "".join(char for char in text if char.isascii() and char.isdigit())
        if normalised.startswith("0086"):
            normalised = normalised[4:]
        elif normalised.startswith("86") and len(normalised) == 13:
            normalised = normalised[2:]
    else:
        raise ValueError(f"unknown lookup kind {kind!r}")
    if not normalised:
        raise ValueError(f"nothing to hash: the {kind} is empty")
    return normalised


def lookup_hash(value: str, key: bytes, *, kind: LookupKind) -> str:
    """HMAC-SHA256 (hex) of the normalised value, with the kind mixed in, for exact lookup (a blind index).

    The message is `kind + NUL + normalised value` (UTF-8); changing it invalidates every stored hash.
    """
    if len(key) < KEY_BYTES:
        raise ValueError(f"the lookup key must be at least {KEY_BYTES} bytes")
    message = kind.encode("ascii") + b"\x00" + normalise_for_lookup(value, kind).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def id_hash(id_number: str, key: bytes) -> str:
    """The `id_hash` of EVENTS.md: the keyed hash of an ID number with the deployment's lookup key."""
    return lookup_hash(id_number, key, kind="id")


# -------------------------------------------------------------------------------------------------- masks


@overload
def mask_id_number(value: str) -> str: ...
@overload
def mask_id_number(value: None) -> None: ...
def mask_id_number(value: str | None) -> str | None:
    """`420102********123X`: the region and the last four stay, the birth date goes."""
    if value is None:
        return None
    text = value.strip()
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


@overload
def mask_name(value: str) -> str: ...
@overload
def mask_name(value: None) -> None: ...
def mask_name(value: str | None) -> str | None:
    """`张*`, `欧***`, `J***`: the first character stays."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) <= 1:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 1)


@overload
def mask_phone(value: str) -> str: ...
@overload
def mask_phone(value: None) -> None: ...
def mask_phone(value: str | None) -> str | None:
    """`138****5678`: the last four stay, and the first three of a number of eleven or more characters."""
    if value is None:
        return None
    text = re.sub(r"[\s-]", "", value)
    if len(text) >= 11:
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if len(text) >= 7:
        return "*" * (len(text) - 4) + text[-4:]
    return "*" * len(text)


@overload
def mask_address(value: str) -> str: ...
@overload
def mask_address(value: None) -> None: ...
def mask_address(value: str | None) -> str | None:
    """The first six characters (city and district) and `****`; a short address keeps at most half."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return ""
    return text[: min(6, len(text) // 2)] + "****"

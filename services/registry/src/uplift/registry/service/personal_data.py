"""Personal data at rest: encryption of names, ID numbers, phones, addresses and notes, keyed lookup hashes,
and masking for callers without `pii:read`.

Each encrypted column is sealed with its own name as associated data (`persons.name`, ...), so a value cannot
be moved to another column unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from uplift.common.pii import FieldCipher, decode_key, id_hash, lookup_hash, mask_address, mask_id_number, mask_name
from uplift.common.pii import mask_phone as _mask_phone
from uplift.common.settings import ServiceSettings

NAME = "persons.name"
ID_NUMBER = "persons.id_number"
PHONE = "persons.phone"
ILLNESS_NOTE = "persons.illness_note"
ADDRESS = "households.address"


@dataclass(frozen=True)
class PersonalDataVault:
    """The deployment's field cipher and lookup key."""

    cipher: FieldCipher
    lookup_key: bytes

    def seal(self, value: str, column: str) -> bytes:
        return self.cipher.encrypt(value, associated_data=column)

    def seal_optional(self, value: str | None, column: str) -> bytes | None:
        return None if value is None else self.seal(value, column)

    def open(self, token: bytes, column: str) -> str:
        return self.cipher.decrypt(token, associated_data=column)

    def open_optional(self, token: bytes | None, column: str) -> str | None:
        return None if token is None else self.open(token, column)

    def id_hash(self, id_number: str) -> str:
        """The keyed hash of an ID number: the lookup index and the `id_hash` of person events."""
        return id_hash(id_number, self.lookup_key)

    def name_hash(self, name: str) -> str:
        return lookup_hash(name, self.lookup_key, kind="name")


@cache
def vault_from_keys(pii_key: str, pii_key_id: str, pii_old_keys: str, lookup_key: str) -> PersonalDataVault:
    """The vault of these keys (built once per key set and process)."""
    return PersonalDataVault(
        FieldCipher.from_settings(pii_key, pii_key_id, pii_old_keys), decode_key(lookup_key, what="lookup key")
    )


def vault_for(settings: ServiceSettings) -> PersonalDataVault:
    """The vault of a service's settings."""
    return vault_from_keys(settings.pii_key, settings.pii_key_id, settings.pii_old_keys, settings.lookup_key)


def shown_name(value: str, unmasked: bool) -> str:
    return value if unmasked else mask_name(value)


def shown_id_number(value: str, unmasked: bool) -> str:
    return value if unmasked else mask_id_number(value)


def shown_phone(value: str | None, unmasked: bool) -> str | None:
    return value if unmasked else _mask_phone(value)


def shown_address(value: str | None, unmasked: bool) -> str | None:
    return value if unmasked else mask_address(value)

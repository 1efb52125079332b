"""Personal data at rest: encryption of names, ID numbers, phones, addresses and notes, keyed lookup hashes,
and masking for callers without `pii:read`.

Each encrypted column is sealed with its own name as associated data (`persons.name`, ...), so a value cannot
be moved to another column unnoticed.

Masks of stored values are kept per vault in a bounded LRU keyed by the ciphertext itself (`masked_person`,
`masked_address`): a changed value is a new ciphertext (fresh nonce), so a mask can never be stale, whatever
version bookkeeping a writer does. Only masks are kept, which every caller allowed to read the household sees
anyway; a plaintext is never cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache

from uplift.common.pii import FieldCipher, decode_key, id_hash, lookup_hash, mask_address, mask_id_number, mask_name
from uplift.common.pii import mask_phone as _mask_phone
from uplift.common.settings import ServiceSettings

NAME = "persons.name"
ID_NUMBER = "persons.id_number"
PHONE = "persons.phone"
ILLNESS_NOTE = "persons.illness_note"
ADDRESS = "households.address"

# Masks kept per vault: about 300 bytes per person (three masks and their ciphertexts), so ~10 MB at most.
MASK_CACHE_PERSONS = 32_768
MASK_CACHE_ADDRESSES = 16_384

MaskedPerson = tuple[str, str, str | None]  # name, ID number, phone


@dataclass(frozen=True)
class PersonalDataVault:
    """The deployment's field cipher and lookup key."""

    cipher: FieldCipher
    lookup_key: bytes
    _masked_person: Callable[[bytes, bytes, bytes | None], MaskedPerson] = field(init=False, repr=False, compare=False)
    _masked_address: Callable[[bytes], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Per vault, so a ciphertext is only ever opened with the keys it was found under.
        object.__setattr__(self, "_masked_person", lru_cache(maxsize=MASK_CACHE_PERSONS)(self._mask_person))
        object.__setattr__(self, "_masked_address", lru_cache(maxsize=MASK_CACHE_ADDRESSES)(self._mask_address))

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

    def masked_person(self, name_enc: bytes, id_number_enc: bytes, phone_enc: bytes | None) -> MaskedPerson:
        """The masks of a person's stored name, ID number and phone, as a caller without `pii:read` sees them;
        FieldDecryptionError (never cached) for a value that does not decrypt."""
        return self._masked_person(
            bytes(name_enc), bytes(id_number_enc), None if phone_enc is None else bytes(phone_enc)
        )

    def masked_address(self, address_enc: bytes) -> str:
        """The mask of a stored address."""
        return self._masked_address(bytes(address_enc))

    def _mask_person(self, name_enc: bytes, id_number_enc: bytes, phone_enc: bytes | None) -> MaskedPerson:
        return (
            mask_name(self.open(name_enc, NAME)),
            mask_id_number(self.open(id_number_enc, ID_NUMBER)),
            _mask_phone(self.open_optional(phone_enc, PHONE)),
        )

    def _mask_address(self, address_enc: bytes) -> str:
        return mask_address(self.open(address_enc, ADDRESS))


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

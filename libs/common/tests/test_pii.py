"""ID-number validation, field encryption, lookup hashes and masking."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date

import pytest

from uplift.common.pii import (
    DEV_LOOKUP_KEY,
    DEV_PII_KEY,
    DEV_PII_KEY_ID,
    FieldCipher,
    FieldDecryptionError,
    IdNumber,
    InvalidIdNumber,
    LookupKind,
    decode_key,
    id_hash,
    lookup_hash,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_for_lookup,
    validate_id_number,
)

TODAY = date(2026, 3, 1)

# GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits, written out independently of the module.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_check_digit(first17: str) -> str:
    assert len(first17) == 17 and first17.isdigit()
    remainder = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True)) % 11
    return first17 + "10X98765432"[remainder]


def wrong_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


# --------------------------------------------------------------------------------------- ID numbers


def test_the_textbook_id_number_is_valid_with_its_x_check_digit() -> None:
    # 11010519491231002X: Beijing Chaoyang, born 1949-12-31, sequence 002 (even: female), check digit X.
    assert with_check_digit("11010519491231002") == "11010519491231002X"
    parsed = validate_id_number("11010519491231002X", today=TODAY)
    assert parsed == IdNumber(
        value="11010519491231002X", birth_date=date(1949, 12, 31), sex="female", region="110105"
    )


def test_an_odd_sequence_digit_is_a_man() -> None:
    number = with_check_digit("42010219800101123")
    assert number == "420102198001011231"
    parsed = validate_id_number(number, birth_date=date(1980, 1, 1), sex="male", today=TODAY)
    assert (parsed.sex, parsed.birth_date, parsed.region) == ("male", date(1980, 1, 1), "420102")


def test_lower_case_x_blanks_and_full_width_characters_are_normalised() -> None:
    assert validate_id_number("  11010519491231002x ", today=TODAY).value == "11010519491231002X"
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    assert validate_id_number(full_width, today=TODAY).value == "11010519491231002X"


def test_the_repr_of_an_id_number_is_masked_so_logs_do_not_carry_it() -> None:
    parsed = validate_id_number("11010519491231002X", today=TODAY)
    assert repr(parsed) == "IdNumber('110105********002X')"
    assert str(parsed) == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1101051949123100", "an ID number has 18 characters, this one has 16"),
        ("11010519491231002X1", "an ID number has 18 characters, this one has 19"),
        ("", "an ID number has 18 characters, this one has 0"),
        ("1101051949A231002X", "the first 17 characters of an ID number must be digits"),
        ("11010519491231002Y", "the last character of an ID number must be a digit or X"),
        ("110105194912310021", "check digit should be X, not 1"),
        (wrong_check_digit(with_check_digit("42010219800101123")), "check digit should be 1, not 0"),
        (
            with_check_digit("00000019800101123"),
            "region code 000000 is not a Chinese administrative division code",
        ),
        (with_check_digit("42010219800230123"), "birth date 19800230 does not exist"),
        (with_check_digit("42010219801301123"), "birth date 19801301 does not exist"),
        (with_check_digit("42010218991231123"), "birth date 18991231 is before 1900"),
        (with_check_digit("42010220260302123"), "birth date 20260302 is in the future"),
    ],
)
def test_invalid_id_numbers_say_why(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        validate_id_number(value, today=TODAY)
    assert caught.value.reason == reason
    assert str(caught.value) == reason
    assert isinstance(caught.value, ValueError)


def test_a_birth_on_today_is_accepted_and_leap_days_exist_in_leap_years() -> None:
    assert validate_id_number(with_check_digit("42010220260301124"), today=TODAY).birth_date == TODAY
    assert validate_id_number(with_check_digit("42010220000229124"), today=TODAY).birth_date == date(
        2000, 2, 29
    )
    with pytest.raises(InvalidIdNumber, match="birth date 19000229 does not exist"):
        validate_id_number(with_check_digit("42010219000229124"), today=TODAY)


def test_foreigners_permanent_residence_numbers_beginning_with_9_pass_the_region_check() -> None:
    assert validate_id_number(with_check_digit("93315619850614001"), today=TODAY).region == "933156"


def test_the_sent_sex_must_agree_with_the_seventeenth_digit() -> None:
    woman = "11010519491231002X"
    with pytest.raises(InvalidIdNumber) as caught:
        validate_id_number(woman, sex="male", today=TODAY)
    assert caught.value.reason == "sex in the ID number is female but male was sent"
    assert validate_id_number(woman, sex="Female", today=TODAY).sex == "female"


def test_the_sent_birth_date_must_agree_with_the_number() -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        validate_id_number("11010519491231002X", birth_date=date(1949, 12, 30), today=TODAY)
    assert caught.value.reason == "birth date in the ID number is 1949-12-31 but 1949-12-30 was sent"


def test_an_unknown_sex_value_is_a_plain_value_error() -> None:
    with pytest.raises(ValueError, match="sex must be 'male' or 'female'") as caught:
        validate_id_number("11010519491231002X", sex="x", today=TODAY)
    assert not isinstance(caught.value, InvalidIdNumber)


def test_without_today_the_future_is_measured_from_the_real_date() -> None:
    assert validate_id_number("11010519491231002X").birth_date.year == 1949
    with pytest.raises(InvalidIdNumber, match="in the future"):
        validate_id_number(with_check_digit("42010221000101123"))


# ---------------------------------------------------------------------------------------- encryption


def _key(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()


def test_encryption_round_trips_chinese_text_and_hides_it() -> None:
    cipher = FieldCipher({"k1": _key("one")}, "k1")
    token = cipher.encrypt("欧阳娜娜")
    assert "欧阳娜娜".encode() not in token
    assert cipher.decrypt(token) == "欧阳娜娜"
    assert cipher.decrypt(cipher.encrypt("")) == ""


def test_the_token_layout_is_version_key_id_nonce_and_sealed_text() -> None:
    cipher = FieldCipher({"2026a": _key("one")}, "2026a")
    token = cipher.encrypt("张三")
    assert token[0] == 1
    assert token[1] == 5
    assert token[2:7] == b"2026a"
    # 12-byte nonce, then the 6 UTF-8 bytes of 张三 and the 16-byte tag.
    assert len(token) == 7 + 12 + 6 + 16
    assert FieldCipher.key_id_of(token) == "2026a"


def test_each_encryption_uses_a_fresh_nonce() -> None:
    cipher = FieldCipher({"k1": _key("one")}, "k1")
    tokens = [cipher.encrypt("13812345678") for _ in range(5)]
    nonces = {token[4:16] for token in tokens}
    assert len(set(tokens)) == 5
    assert len(nonces) == 5


@pytest.mark.parametrize("position", [0, 1, 2, 5, 20, -1])
def test_any_flipped_byte_is_detected(position: int) -> None:
    cipher = FieldCipher({"k1": _key("one")}, "k1")
    token = bytearray(cipher.encrypt("420102198001011231"))
    token[position] ^= 0x01
    with pytest.raises(FieldDecryptionError):
        cipher.decrypt(bytes(token))


def test_a_truncated_or_foreign_value_is_refused() -> None:
    cipher = FieldCipher({"k1": _key("one")}, "k1")
    token = cipher.encrypt("x")
    with pytest.raises(FieldDecryptionError, match="truncated"):
        cipher.decrypt(token[:20])
    with pytest.raises(FieldDecryptionError, match="known format"):
        cipher.decrypt(b"plain text")
    with pytest.raises(FieldDecryptionError, match="known format"):
        cipher.decrypt(b"")


def test_associated_data_stops_a_value_moving_to_another_column() -> None:
    cipher = FieldCipher({"k1": _key("one")}, "k1")
    token = cipher.encrypt("张三", associated_data="persons.name")
    assert cipher.decrypt(token, associated_data="persons.name") == "张三"
    with pytest.raises(FieldDecryptionError, match="another column"):
        cipher.decrypt(token, associated_data="persons.address")
    with pytest.raises(FieldDecryptionError):
        cipher.decrypt(token)


def test_relabelling_a_token_with_another_known_key_id_fails() -> None:
    cipher = FieldCipher({"k1": _key("one"), "k2": _key("one")}, "k1")  # even with identical key material
    token = cipher.encrypt("张三")
    relabelled = token[:3] + b"2" + token[4:]
    assert FieldCipher.key_id_of(relabelled) == "k2"
    with pytest.raises(FieldDecryptionError):
        cipher.decrypt(relabelled)


def test_key_rotation_reads_old_rows_and_writes_with_the_new_key() -> None:
    old = FieldCipher({"2025": _key("old")}, "2025")
    old_token = old.encrypt("武汉市江岸区某街道1号", associated_data="households.address")

    rotated = FieldCipher({"2026": _key("new"), "2025": _key("old")}, "2026")
    assert rotated.decrypt(old_token, associated_data="households.address") == "武汉市江岸区某街道1号"
    assert rotated.needs_rotation(old_token)

    new_token = rotated.encrypt("新地址")
    assert FieldCipher.key_id_of(new_token) == "2026"
    assert not rotated.needs_rotation(new_token)
    with pytest.raises(FieldDecryptionError, match="key '2026', which is not configured"):
        old.decrypt(new_token)

    reencrypted = rotated.reencrypt(old_token, associated_data="households.address")
    assert FieldCipher.key_id_of(reencrypted) == "2026"
    assert rotated.decrypt(reencrypted, associated_data="households.address") == "武汉市江岸区某街道1号"


def test_a_value_under_a_retired_key_is_refused_by_name() -> None:
    token = FieldCipher({"2024": _key("gone")}, "2024").encrypt("x")
    with pytest.raises(FieldDecryptionError, match="key '2024', which is not configured"):
        FieldCipher({"2026": _key("new")}, "2026").decrypt(token)


def test_from_settings_reads_the_current_and_old_keys() -> None:
    old_b64 = base64.b64encode(_key("old")).decode()
    older_b64 = base64.b64encode(_key("older")).decode()
    old_token = FieldCipher({"2025": _key("old")}, "2025").encrypt("李四")
    older_token = FieldCipher({"2024": _key("older")}, "2024").encrypt("王五")

    cipher = FieldCipher.from_settings(DEV_PII_KEY, DEV_PII_KEY_ID, f"2025:{old_b64}, 2024:{older_b64}")
    assert cipher.current_key_id == "dev1"
    assert cipher.decrypt(old_token) == "李四"
    assert cipher.decrypt(older_token) == "王五"
    assert FieldCipher.key_id_of(cipher.encrypt("x")) == "dev1"
    assert FieldCipher.from_settings(DEV_PII_KEY, "dev1").decrypt(cipher.encrypt("赵六")) == "赵六"


@pytest.mark.parametrize(
    ("key_b64", "old_keys", "message"),
    [
        ("not base64!", "", "PII key 'dev1' is not valid base64"),
        (base64.b64encode(b"short").decode(), "", "must decode to 32 bytes, got 5"),
        (DEV_PII_KEY, "no-colon", "old PII keys must be written as 'id:base64,id:base64'"),
        (DEV_PII_KEY, f"dev1:{DEV_PII_KEY}", "PII key id 'dev1' is given twice"),
        (DEV_PII_KEY, "old:AAAA", "PII key 'old' must decode to 32 bytes, got 3"),
    ],
)
def test_from_settings_refuses_bad_keys_without_echoing_them(
    key_b64: str, old_keys: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        FieldCipher.from_settings(key_b64, "dev1", old_keys)
    assert DEV_PII_KEY not in str(caught.value)


def test_the_cipher_refuses_wrong_key_sizes_and_a_missing_current_key() -> None:
    with pytest.raises(ValueError, match="must be 32 bytes, got 16"):
        FieldCipher({"k": b"0" * 16}, "k")
    with pytest.raises(ValueError, match="current key id 'k2' has no key"):
        FieldCipher({"k1": _key("one")}, "k2")
    with pytest.raises(ValueError, match="key id 'a:b'"):
        FieldCipher({"a:b": _key("one")}, "a:b")


def test_the_development_keys_are_32_bytes() -> None:
    assert len(decode_key(DEV_PII_KEY)) == 32
    assert len(decode_key(DEV_LOOKUP_KEY)) == 32


# ------------------------------------------------------------------------------------- lookup hashes

LOOKUP_KEY = decode_key(DEV_LOOKUP_KEY)


def test_the_id_hash_is_hmac_sha256_of_kind_and_normalised_number() -> None:
    expected = hmac.new(LOOKUP_KEY, b"id\x0011010519491231002X", hashlib.sha256).hexdigest()
    assert id_hash("11010519491231002X", LOOKUP_KEY) == expected
    assert id_hash(" 11010519491231002x", LOOKUP_KEY) == expected
    assert lookup_hash("11010519491231002X", LOOKUP_KEY, kind="id") == expected
    assert len(expected) == 64


def test_the_same_text_of_different_kinds_hashes_differently() -> None:
    hashes = {lookup_hash("13812345678", LOOKUP_KEY, kind=kind) for kind in ("id", "name", "phone")}
    assert len(hashes) == 3


def test_another_key_gives_another_hash() -> None:
    assert id_hash("11010519491231002X", LOOKUP_KEY) != id_hash("11010519491231002X", _key("other"))


def test_names_hash_alike_across_blanks_width_case_and_middle_dots() -> None:
    reference = lookup_hash("阿依古丽·买买提", LOOKUP_KEY, kind="name")
    assert lookup_hash(" 阿依古丽・买买提 ", LOOKUP_KEY, kind="name") == reference
    assert lookup_hash("阿依古丽•买买提", LOOKUP_KEY, kind="name") == reference
    assert lookup_hash("张 三", LOOKUP_KEY, kind="name") == lookup_hash("张三", LOOKUP_KEY, kind="name")
    assert lookup_hash("ＪＯＨＮ Smith", LOOKUP_KEY, kind="name") == lookup_hash(
        "john smith", LOOKUP_KEY, kind="name"
    )
    assert lookup_hash("张三", LOOKUP_KEY, kind="name") != lookup_hash("张四", LOOKUP_KEY, kind="name")


@pytest.mark.parametrize(
    ("value", "kind", "normalised"),
    [
        ("11010519491231002x", "id", "11010519491231002X"),
        ("１１０１０５ 19491231002X", "id", "11010519491231002X"),
        ("+86 138-1234-5678", "phone", "13812345678"),
        ("0086 13812345678", "phone", "13812345678"),
        ("8613812345678", "phone", "13812345678"),
        ("027-8888 6666", "phone", "02788886666"),
        ("欧阳 娜娜", "name", "欧阳娜娜"),
    ],
)
def test_values_are_normalised_before_hashing(value: str, kind: LookupKind, normalised: str) -> None:
    assert normalise_for_lookup(value, kind) == normalised


def test_empty_values_unknown_kinds_and_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="nothing to hash: the name is empty"):
        lookup_hash("  ", LOOKUP_KEY, kind="name")
    with pytest.raises(ValueError, match="unknown lookup kind 'email'"):
        lookup_hash("a@b", LOOKUP_KEY, kind="email")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 32 bytes"):
        lookup_hash("张三", b"short", kind="name")


# ---------------------------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("42010219800101123X", "420102********123X"),
        ("11010519491231002X", "110105********002X"),
        (" 420102198001011231 ", "420102********1231"),
        ("420102800101123", "420102*****1123"),  # a 15-digit number of the first generation
        ("1234567890", "**********"),
        ("123", "***"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_id_number(value: str | None, masked: str | None) -> None:
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("阿依古丽·买买提", "阿*******"),
        ("John", "J***"),
        (" Li ", "L*"),
        ("张", "*"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_name(value: str | None, masked: str | None) -> None:
    assert mask_name(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+8613812345678", "+86*******5678"),
        ("027-88886666", "027****6666"),
        ("88886666", "****6666"),
        ("12345", "*****"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_phone(value: str | None, masked: str | None) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("湖北省武汉市江岸区某某街道某某社区3栋2单元501", "湖北省武汉市****"),
        ("Flat 5, 12 Long Road", "Flat 5****"),
        ("某路12号", "某路****"),
        ("一", "****"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_address(value: str | None, masked: str | None) -> None:
    assert mask_address(value) == masked

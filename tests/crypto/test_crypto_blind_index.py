"""Phone normalisation and the per-customer blind index."""

import pytest

from crypto import blind_index, derive_subkey, normalize_phone

SAME_NUMBER = ["+46 70-123 45 67", "0046701234567", "070-123 45 67", "(070) 123 45 67",
               "+46701234567", "070.123.45.67", " 0701234567 ", "+46 (0)70 123 45 67",
               "+46\u00a070\u00a0123\u00a045\u00a067"]


@pytest.mark.parametrize("notation", SAME_NUMBER)
def test_notations_normalise_to_e164(notation: str) -> None:
    assert normalize_phone(notation) == "+46701234567"


def test_other_default_country() -> None:
    assert normalize_phone("030 1234567", default_country_code="49") == "+49301234567"
    assert normalize_phone("+1 (415) 555-0100", default_country_code="49") == "+14155550100"


@pytest.mark.parametrize("bad", ["", "   ", "070-ABC 45 67", "+46 70 123 45 6x", "12345",
                                 "+46 12", "+46 70 123 45 67 89 012", "701234567",
                                 "46701234567", "+0701234567", "000701234567", "++46701234567",
                                 "+46 70 123 45 67 ext 2", "+٤٦٧٠١٢٣٤٥٦٧"])
def test_rejects_bad_numbers(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(bad)


def test_rejects_bad_default_country_code() -> None:
    with pytest.raises(ValueError):
        normalize_phone("0701234567", default_country_code="046")


def test_max_length_is_fifteen_digits() -> None:
    assert normalize_phone("+123456789012345") == "+123456789012345"
    with pytest.raises(ValueError):
        normalize_phone("+1234567890123456")


def customer_key(n: int) -> bytes:
    return derive_subkey(bytes([n]) * 32, 1, b"rsbidx01")


def test_equal_numbers_in_different_notations_match() -> None:
    key = customer_key(1)
    indexes = {blind_index(key, normalize_phone(n)) for n in SAME_NUMBER}
    assert len(indexes) == 1
    assert len(indexes.pop()) == 32


def test_different_numbers_differ() -> None:
    key = customer_key(1)
    assert blind_index(key, "+46701234567") != blind_index(key, "+46701234568")


def test_different_customers_get_unlinkable_indexes() -> None:
    assert blind_index(customer_key(1), "+46701234567") != \
        blind_index(customer_key(2), "+46701234567")


@pytest.mark.parametrize("raw", ["0701234567", "+46 70 123 45 67", "46701234567", ""])
def test_blind_index_refuses_unnormalised_input(raw: str) -> None:
    with pytest.raises(ValueError):
        blind_index(customer_key(1), raw)


def test_blind_index_checks_key_size() -> None:
    with pytest.raises(ValueError):
        blind_index(bytes(16), "+46701234567")

"""Normalisation of phone numbers to E.164 ("+46701234567")."""

import re

_FORMATTING = re.compile(r"[\s\-.()/]")
_DIGITS = re.compile(r"[0-9]+")
_COUNTRY_CODE = re.compile(r"[1-9][0-9]{0,2}")
E164_PATTERN = re.compile(r"\+[1-9][0-9]{6,14}")
MIN_DIGITS = 7  # shortest numbers in use, e.g. Niue +683 xxxx
MAX_DIGITS = 15  # E.164


def normalize_phone(number: str, *, default_country_code: str = "46") -> str:
    """Return `number` in E.164.

    Accepts "+46 70-123 45 67", "0046701234567", "070-123 45 67" (the national trunk 0
    becomes +<default_country_code>) and "+46 (0)70 …". Digits without any of the
    prefixes + / 00 / 0 are rejected: "46701234567" and "701234567" cannot be told apart.
    """
    if not _COUNTRY_CODE.fullmatch(default_country_code):
        raise ValueError("default country code must be 1-3 digits, not starting with 0")
    # "(0)" marks a trunk prefix that is dropped when dialling internationally.
    compact = _FORMATTING.sub("", number.strip().replace("(0)", ""))
    if compact.startswith("+"):
        digits = compact[1:]
    elif compact.startswith("00"):
        digits = compact[2:]
    elif compact.startswith("0"):
        digits = default_country_code + compact[1:]
    elif compact:
        raise ValueError("phone number needs +<country>, 00<country> or a national 0 prefix")
    else:
        raise ValueError("phone number is empty")
    if not _DIGITS.fullmatch(digits):
        raise ValueError("phone number contains characters other than digits")
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise ValueError(f"phone number must have {MIN_DIGITS}..{MAX_DIGITS} digits")
    if digits[0] == "0":
        raise ValueError("country code cannot start with 0")
    return "+" + digits

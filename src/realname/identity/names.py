"""Names as people write them, folded to one form so equal names compare equal.

Minority and foreign names are written with a separating dot that arrives in half a dozen
code points (· U+00B7, • U+2022, ・ U+30FB, ‧ U+2027, ∙ U+2219, . full stop, ･ U+FF65); clerks type
full-width Latin letters; scanners add spaces. Everything here is pure and cheap.
"""

from __future__ import annotations

import re
import unicodedata

NAME_DOT = "·"
_DOTS = re.compile(r"\s*[\u00b7\u2022\u30fb\u2027\u2219\u22c5\u0387\uff65\u16eb.]\s*")
_SPACES = re.compile(r"\s+")


def normalize_name(raw: str) -> str:
    """NFKC (full-width to half-width), one kind of middle dot, single spaces, trimmed."""
    name = unicodedata.normalize("NFKC", raw)
    name = _DOTS.sub(NAME_DOT, name)
    return _SPACES.sub(" ", name).strip(" " + NAME_DOT)


def is_han(text: str) -> bool:
    """True when the name is written in Chinese characters (dots and spaces aside)."""
    letters = [c for c in text if c not in (NAME_DOT, " ")]
    return bool(letters) and all(
        "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or "\U00020000" <= c <= "\U0003134f"
        for c in letters
    )


def mask_name(raw: str) -> str:
    """Show the first character (surname) only: 张三 -> 张*, 王小明 -> 王**, Li Wei -> L* ***.

    Separating dots and spaces stay visible so the shape of the name is still recognisable.
    """
    name = normalize_name(raw)
    if not name:
        return ""
    return name[0] + "".join(c if c in (NAME_DOT, " ") else "*" for c in name[1:])


def mask_document_number(number: str) -> str:
    """110105194912310021 -> 110105********0021 (region and sequence shown, birth date hidden);
    15-digit 110105491231002 -> 110105******002; shorter numbers keep first one, last two."""
    text = number.strip()
    length = len(text)
    if length <= 4:
        return "*" * length
    if length >= 18:
        keep_start, keep_end = 6, 4
    elif length >= 15:
        keep_start, keep_end = 6, 3
    else:
        keep_start, keep_end = 1, 2
    return text[:keep_start] + "*" * (length - keep_start - keep_end) + text[length - keep_end :]

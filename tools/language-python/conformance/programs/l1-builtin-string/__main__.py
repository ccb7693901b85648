"""l1-builtin-string: length (in grapheme clusters), split, join and interpolation."""

import unicodedata

import pulumi

ZWJ = "\u200d"


def _kind(ch):
    """A character's grapheme-break class, close enough to UAX #29 for text and emoji."""
    cp = ord(ch)
    if ch == "\r":
        return "CR"
    if ch == "\n":
        return "LF"
    if ch == ZWJ:
        return "ZWJ"
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return "RI"
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F or cp == 0x200C:
        return "Extend"  # emoji modifiers, tag characters, ZWNJ
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    category = unicodedata.category(ch)
    if category in ("Mn", "Me"):
        return "Extend"
    if category == "Mc":
        return "SpacingMark"
    if category in ("Cc", "Zl", "Zp") or (category == "Cf" and cp != 0x200C):
        return "Control"
    if 0x1F000 <= cp <= 0x1FAFF or (0x2100 <= cp <= 0x2BFF and category == "So") or cp in (0xA9, 0xAE):
        return "Pictographic"
    return "Other"


def grapheme_count(text):
    """The number of user-perceived characters (extended grapheme clusters) in text."""
    count = 0
    previous = None
    regional_run = 0
    for ch in text:
        kind = _kind(ch)
        joined = previous is not None and (
            (previous == "CR" and kind == "LF")
            or (
                previous not in ("CR", "LF", "Control")
                and kind not in ("CR", "LF", "Control")
                and (
                    kind in ("Extend", "ZWJ", "SpacingMark")
                    or (previous == "L" and kind in ("L", "V", "LV", "LVT"))
                    or (previous in ("LV", "V") and kind in ("V", "T"))
                    or (previous in ("LVT", "T") and kind == "T")
                    or (previous == "ZWJ" and kind == "Pictographic")
                    or (previous == "RI" and kind == "RI" and regional_run % 2 == 1)
                )
            )
        )
        if not joined:
            count += 1
        regional_run = regional_run + 1 if kind == "RI" else 0
        previous = kind
    return count


a_string = pulumi.Config().require("aString")
parts = a_string.split("-")

pulumi.export("lengthResult", grapheme_count(a_string))
pulumi.export("splitResult", parts)
pulumi.export("joinResult", "|".join(parts))
pulumi.export("interpolateResult", f"prefix-{a_string}")

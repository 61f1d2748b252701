"""SMS text: the GSM-7 alphabet, 160 septets per message, longer texts split in numbered parts."""

from __future__ import annotations

import unicodedata

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")
SINGLE_SMS = 160
REPLACEMENTS = {
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "\u00a0": " ",
    "\u202f": " ",
    "ç": "c",
    "œ": "oe",
    "Œ": "OE",
}


def to_gsm7(text: str) -> str:
    """Text made of GSM-7 characters only: accents the alphabet lacks lose them (ê -> e), others go."""
    out = []
    for ch in text:
        ch = REPLACEMENTS.get(ch, ch)
        if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in ch):
            out.append(ch)
            continue
        plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        out.append("".join(c for c in plain if c in GSM7_BASIC or c in GSM7_EXTENDED))
    return "".join(out)


def septets(text: str) -> int:
    """Length in GSM-7 septets: characters of the extension table take two."""
    return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)


def split_sms(text: str, limit: int = SINGLE_SMS) -> list[str]:
    """One SMS when the GSM-7 text fits in ``limit`` septets, else parts ending with ' (i/n)'."""
    text = to_gsm7(" ".join(text.split()))
    if septets(text) <= limit:
        return [text]
    for count in range(2, 100):
        parts = _pack(text.split(" "), limit - len(f" ({count}/{count})"))
        if len(parts) <= count:
            return [f"{p} ({i}/{len(parts)})" for i, p in enumerate(parts, 1)]
    raise ValueError("SMS text too long")


def _pack(words: list[str], width: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for word in words:
        while septets(word) > width:  # a word longer than a part is cut
            head, word = word[:width], word[width:]
            if current:
                parts.append(current)
                current = ""
            parts.append(head)
        candidate = f"{current} {word}" if current else word
        if septets(candidate) <= width:
            current = candidate
        else:
            parts.append(current)
            current = word
    if current:
        parts.append(current)
    return parts

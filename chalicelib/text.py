"""Untrusted text made safe to show to people: one sanitizer for every rendering.

Event fields (user agent, ARNs, session names, error messages) are chosen by whoever made the call. Shown raw they
can forge lines in an email or a log (newlines, U+2028), recolour or hide text in a terminal (ANSI escape
sequences), reorder what a reader sees (bidi overrides), hide text (zero-width and tag characters), or ping and link
in a chat channel (Slack's `<!channel>` and `<url|text>` control sequences). `safe_text` makes any of that inert and
visible; `chat_code` and `chat_text` add what a chat client needs on top. Machine renderings (JSON) keep values
verbatim: their consumers decode them, and JSON escaping already makes them unambiguous.

Reusable for any further rendering (the CSV evidence file does `safe_text` first, then its own cell quoting).
"""

from __future__ import annotations

CLIP_MARK = "…[clipped]"
UNKNOWN = "unknown"

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clip(text: str, limit: int) -> str:
    """The first `limit` characters, marked when something was cut."""
    return text if len(text) <= limit else text[:limit] + CLIP_MARK


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def safe_text(value: object, limit: int | None = None) -> str:
    """`value` as one line of inert text: every character Python does not call printable is shown as an escape.

    Non-printable (str.isprintable) covers exactly the hazards above: C0/C1 controls including ESC and CSI (ANSI
    sequences lose their introducer and stay visible as text), format characters (bidi embeddings, overrides and
    isolates, zero-width space/joiners, word joiner, BOM, tag characters), line and paragraph separators
    (U+2028/U+2029), lone surrogates (which cannot even be encoded as UTF-8), and non-ASCII spaces.
    """
    text = value if isinstance(value, str) else str(value)
    if limit is not None:
        text = clip(text, limit)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


# Slack's mrkdwn parses `<...>` control sequences (mentions, links) and HTML entities before anything else, so
# `&`, `<` and `>` must be entities (https://api.slack.com/reference/surfaces/formatting#escaping). Inside an inline
# code span `*`, `_`, `~` and links do not format; a backtick would end the span, so it becomes a lookalike.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_CHAT_PROSE = str.maketrans(_ENTITIES)
_CHAT_CODE = str.maketrans({**_ENTITIES, "`": "ˋ"})


def chat_code(value: object, limit: int | None = None) -> str:
    """An event field for a chat client (Slack or Teams through Amazon Q Developer): an inert inline code span."""
    return "`" + safe_text(value, limit).translate(_CHAT_CODE) + "`"


def chat_text(value: object, limit: int | None = None) -> str:
    """xray-guard's own prose (which may quote AWS error messages) for a chat client: no mentions, links or
    control characters; its own formatting marks stay."""
    return safe_text(value, limit).translate(_CHAT_PROSE)

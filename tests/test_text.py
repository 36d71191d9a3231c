"""The one sanitizer every human rendering uses: hazards become visible escapes, ordinary text stays as it is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.text import CLIP_MARK, chat_code, chat_text, clip, safe_text


@pytest.mark.parametrize(
    ("hazard", "shown"),
    [
        ("\n", "\\n"),  # forged lines in an email or a log
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\x00", "\\x00"),
        ("\x1b[31m", "\\x1b[31m"),  # ANSI: the escape loses its ESC, the rest is plain text
        ("\x9b31m", "\\x9b31m"),  # C1 CSI, the one-byte form of ESC [
        ("\x7f", "\\x7f"),
        ("\u202e", "\\u202e"),  # right-to-left override
        ("\u2066", "\\u2066"),  # left-to-right isolate
        ("\u200b", "\\u200b"),  # zero-width space
        ("\u200d", "\\u200d"),  # zero-width joiner
        ("\ufeff", "\\ufeff"),  # BOM / zero-width no-break space
        ("\u2028", "\\u2028"),  # line separator: a new line in JavaScript-based viewers
        ("\u2029", "\\u2029"),
        ("\u00a0", "\\xa0"),  # a space that is not one
        ("\U000e0041", "\\U000e0041"),  # tag character: invisible text
        ("\ud800", "\\ud800"),  # lone surrogate: not even encodable as UTF-8
    ],
)
def test_each_hazard_is_shown_as_an_escape(hazard: str, shown: str) -> None:
    text = safe_text(f"before{hazard}after")

    assert text == f"before{shown}after"
    assert text.isprintable()
    text.encode("utf-8")


@pytest.mark.parametrize(
    "ordinary",
    [
        "arn:aws:sts::222222222222:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/jane.doe@example.com",
        "identitycenter:arn:aws:identitystore::111111111111:identitystore/d-9067642ac7/user/544894e8-80c1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)",
        "Zoë Ødegård — 山田太郎 — Ελένη \U0001f600",
        "",
    ],
)
def test_ordinary_text_is_unchanged(ordinary: str) -> None:
    assert safe_text(ordinary) == ordinary


def test_clip_marks_what_it_cut() -> None:
    assert clip("abcdef", 6) == "abcdef"
    assert clip("abcdefg", 6) == "abcdef" + CLIP_MARK
    assert safe_text("\n" * 10, limit=2) == "\\n\\n" + safe_text(CLIP_MARK)


def test_chat_code_is_one_inert_code_span() -> None:
    hostile = "<!channel> <https://evil.example/|runbook> &amp; `rm -rf` *bold* _it_ ~s~\n> quote"

    code = chat_code(hostile)

    assert code.startswith("`")
    assert code.endswith("`")
    inner = code[1:-1]
    assert "`" not in inner  # the span cannot be closed early
    assert "<" not in inner  # no mention, link or quote for Slack to parse
    assert ">" not in inner
    assert "&lt;!channel&gt;" in inner
    assert "&amp;amp;" in inner  # an entity in the input stays text, not the character it names
    assert "\\n" in inner


def test_chat_text_keeps_prose_but_no_control_sequences() -> None:
    assert chat_text("Tried to revert: <@U123> said no\n") == "Tried to revert: &lt;@U123&gt; said no\\n"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(st.characters(exclude_categories=()), max_size=60))
def test_any_text_comes_out_printable_and_stable(text: str) -> None:
    shown = safe_text(text)

    assert shown.isprintable()
    assert safe_text(shown) == shown  # sanitizing twice changes nothing: no double escaping across layers
    assert text.isprintable() == (shown == text)
    assert chat_code(text)[1:-1].count("`") == 0

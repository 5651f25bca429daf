"""normalize: plain text out of HTML and Unicode variants; canonical source URLs."""

from __future__ import annotations

import pytest

from services.enrich.steps.normalize import (
    canonical_url,
    normalize_sources,
    normalize_text,
    tokens,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  OpenAI   releases\n\tWhisper  ", "OpenAI releases Whisper"),
        ("<p>OpenAI <b>releases</b> Whisper</p>", "OpenAI releases Whisper"),
        ("Meta &amp; Microsoft &lt;3 &quot;open&quot;", 'Meta & Microsoft <3 "open"'),
        ("a < b and c > d", "a < b and c > d"),
        ("<script>alert(1)</script>Text<!-- hidden -->", "Text"),
        ("\uff2f\uff50\uff45\uff4e\uff21\uff29", "OpenAI"),  # full-width letters (NFKC)
        ("non\u2011profit", "non-profit"),
        ("Italy\u2019s \u201cwrong side\u201d", 'Italy\'s "wrong side"'),
        ("zero\u200bwidth\u00a0space", "zerowidth space"),
        ("bell\x07 and\x01ctl\x1b[31m", "bell andctl[31m"),  # controls dropped (XML, iCal)
        ("DEL\x7f and C1\x9b \u00e9", "DEL and C1 \u00e9"),
        ("form\x0cfeed\x0bvertical", "form feed vertical"),  # whitespace controls are spaces
        ("", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_no_control_character_survives_normalization() -> None:
    every = "".join(chr(c) for c in range(1, 0xA0)) + "&#1;&#x7f;&#159;"
    out = normalize_text(every) + normalize_text(every, keep_paragraphs=True)
    assert not [c for c in out if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0)]


def test_no_character_xml_refuses_survives_normalization() -> None:
    # U+FFFE / U+FFFF and lone surrogates: stored, they made the Atom export not well-formed.
    raw = "gpt\ufffe-oss\uffff released\ud800 &#xFFFE;today"
    for out in (normalize_text(raw), normalize_text(raw, keep_paragraphs=True)):
        assert not {"\ufffe", "\uffff", "\ud800"} & set(out), repr(out)
        assert out.startswith("gpt-oss released")


def test_normalize_text_can_keep_paragraphs() -> None:
    raw = "<p>First  line\nsame paragraph.</p><p>Second.</p>\n\n\nThird."
    assert normalize_text(raw, keep_paragraphs=True) == (
        "First line same paragraph.\n\nSecond.\n\nThird."
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://OpenAI.com/index/openai-lp/", "https://openai.com/index/openai-lp/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        (
            "https://example.com/a?utm_source=x&utm_medium=y&id=7&fbclid=z&gclid=q",
            "https://example.com/a?id=7",
        ),
        (
            "https://example.com/a?mc_cid=1&mc_eid=2&ref=tw&ref_src=twsrc&b=2&a=1",
            "https://example.com/a?a=1&b=2",
        ),
        ("https://example.com/a?UTM_Campaign=x&page=2", "https://example.com/a?page=2"),
        ("  https://example.com/path%253A  ", "https://example.com/path%253A"),
        ("not a url", "not a url"),
        ("http://[::1", "http://[::1"),
        ("http://a.com:99999/x", "http://a.com:99999/x"),
        ("http://[::1]:80/x", "http://[::1]/x"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("HTTP://Example.COM:80/x?b=2&a=1&utm_term=t#f")
    assert canonical_url(once) == once


def test_sources_with_the_same_canonical_url_are_kept_once() -> None:
    sources, ev = normalize_sources(
        [
            {"url": "https://example.com/a?utm_source=x", "publisher": None, "published_at": None},
            {"url": "https://EXAMPLE.com/a#top", "publisher": " Example ", "published_at": "2025"},
            {"url": "https://other.org/b", "publisher": "Other", "published_at": None},
        ]
    )
    assert sources == (
        {"url": "https://example.com/a", "publisher": "Example", "published_at": "2025"},
        {"url": "https://other.org/b", "publisher": "Other", "published_at": None},
    )
    assert ev == [{"rule": "duplicate-source-url", "words": ["https://example.com/a"]}]


def test_tokens_are_lowercase_words() -> None:
    assert tokens("OpenAI's <i>GPT-4o</i>, released 2024!") == [
        "openai's",
        "gpt-4o",
        "released",
        "2024",
    ]


def test_tokens_are_the_token_pattern_matches() -> None:
    import random

    from services.enrich.steps.normalize import TOKEN, tokens

    rng = random.Random(7)
    alphabet = "abcXYZ019 .'-_\\\n\t,;$\u00e9\u00df\u0130\u212a\ud800"
    texts = ["GPT-4o's U.S. roll-out -- 2.5x 'quoted' a..b a-.b -x- ''", "Stra\u00dfe DEEPSEEK-R1"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    for text in texts:
        assert tokens(text) == TOKEN.findall(normalize_text(text).casefold()), text


def test_plain_ascii_text_is_collapsed_as_by_split_and_join() -> None:
    import random

    rng = random.Random(5)
    alphabet = "ab. \t\n\r\x0b\x0c\x1c\x1f\x85\xa0-'"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        if text.isascii() and text.isprintable():
            assert normalize_text(text) == " ".join(text.split()), repr(text)
    for text in [" a", "a ", "a  b", "a b", "a\tb", "a\nb", " ", "x"]:
        assert normalize_text(text) == " ".join(text.split()), repr(text)

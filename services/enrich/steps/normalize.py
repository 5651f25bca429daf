"""Normalize text and source URLs before any rule looks at them.

Text: HTML tags, entities and control characters removed, Unicode NFKC, typographic quotes and
hyphens folded to ASCII, whitespace collapsed. URLs: a canonical form, so the same article cited
twice compares equal.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from services.enrich.steps.core import Evidence, evidence

# What `drop_blocks` removes: `<(script|style)\b[^>]*>.*?</\1\s*>|<!--.*?-->` (re.I | re.S), found
# piece by piece so an unclosed opener costs one scan, not one per opener.
_BLOCK_OPEN: Final = re.compile(r"<(?:(script|style)\b|!--)", re.I)
_BLOCK_CLOSE: Final = re.compile(r"</(script|style)\s*>", re.I)
_SAME_NAME: Final = re.compile(r"(\w+) (?:\1)", re.I)  # the back-reference's case rule
# Block-level tags end a paragraph; inline tags just vanish.
_BLOCK_TAG: Final = re.compile(
    r"</?(?:p|br|div|li|ul|ol|h[1-6]|tr|table|blockquote|section)\b[^<>]*>", re.I
)
# A tag needs a name right after "<", so prose such as "a < b > c" survives.
_TAG: Final = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_SPACES: Final = re.compile(r"[^\S\n]+")
# A whole run of whitespace holding two newlines (`\s*\n\s*\n\s*`), tried only where a run starts
# and with no two quantifiers over the same characters, so a long run of spaces is scanned once.
PARAGRAPH_BREAK: Final = re.compile(r"(?<!\s)[^\S\n]*\n[^\S\n]*\n\s*")
# NFKC keeps curly quotes and the Unicode hyphens; fold them so rules can be written in ASCII.
_FOLD: Final = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u00ad": None,
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\ufeff": None,
    }
)

# Control characters that are not whitespace: invisible, refused by XML 1.0 (the Atom export) and
# by iCalendar TEXT. They are dropped, and so are the other characters XML 1.0 refuses (lone
# surrogates, U+FFFE, U+FFFF); the whitespace ones (tab, newline, \x0b, \x0c, \x1c-\x1f, \x85)
# are collapsed like any space. NUL never gets here: ingest refuses it.
# (A raw string: `re` reads the \u escapes; a lone surrogate in a str literal is not UTF-8.)
_CONTROLS: Final = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")

TRACKING_PARAMS: Final = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "ref", "ref_src"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
TOKEN: Final = re.compile(r"[a-z0-9]+(?:[.'-][a-z0-9]+)*")


def drop_blocks(text: str, sep: str = " ") -> str:
    """`text` with each script, style and comment block replaced by `sep`, in one pass.

    A block runs to its first closer (`</script>`, `</style>` with the opener's name, `-->`); an
    opened block that is never closed runs to the end of the text, as a browser reads it.
    """
    return scan_blocks(text, sep)[0]


def scan_blocks(text: str, sep: str = " ") -> tuple[str, int]:
    """`drop_blocks`, and how many characters its searches went over (what bounds its time)."""
    out: list[str] = []
    scanned = 0
    at = 0  # everything before `at` is in `out`
    search = 0
    no_gt_from = len(text) + 1  # no ">" at or after this position
    while (m := _BLOCK_OPEN.search(text, search)) is not None:
        scanned += m.end() - search
        start = m.start()
        name = m.group(1)
        if name is None:  # "<!--"
            close = text.find("-->", m.end())
            end = len(text) if close < 0 else close + 3
            scanned += end - m.end()
        else:
            gt = -1 if m.end() >= no_gt_from else text.find(">", m.end())
            if gt < 0:  # "<script" with no ">" after it is no opener, nor is any later one
                if no_gt_from > m.end():
                    scanned += len(text) - m.end()
                    no_gt_from = m.end()
                search = start + 1
                continue
            end = len(text)
            pos = gt + 1
            while (c := _BLOCK_CLOSE.search(text, pos)) is not None:
                scanned += c.end() - pos
                pos = c.end()  # no closer starts inside this one: it holds no other "<"
                if _SAME_NAME.fullmatch(f"{name} {c.group(1)}"):
                    end = pos
                    break
            scanned += (gt + 1 - m.end()) + (len(text) - pos if end == len(text) else 0)
        out.append(text[at:start])
        out.append(sep)
        at = search = end
    scanned += len(text) - search
    if not out:
        return text, scanned
    out.append(text[at:])
    return "".join(out), scanned


def normalize_text(text: str, *, keep_paragraphs: bool = False) -> str:
    """Plain text: no markup, NFKC, ASCII quotes, single spaces (paragraphs kept if asked)."""
    if not text:
        return ""
    # Printable text has none of them (they are all Cc); most text is printable.
    printable = text.isprintable()
    if not printable and _CONTROLS.search(text):
        text = _CONTROLS.sub("", text)
    if not keep_paragraphs and text.isascii() and "<" not in text and "&" not in text:
        # No markup, no entity, nothing NFKC or the fold would change: only the spaces to collapse.
        # In printable ASCII the only whitespace is " ": single and inside, there is nothing to do.
        if printable and "  " not in text and text[0] != " " and text[-1] != " ":
            return text
        return " ".join(text.split())
    out = drop_blocks(text)
    out = _BLOCK_TAG.sub("\n\n", out)
    out = _TAG.sub(" ", out)
    out = html.unescape(out)
    out = unicodedata.normalize("NFKC", out).translate(_FOLD)
    if not keep_paragraphs:
        return " ".join(out.split())
    paragraphs = (
        _SPACES.sub(" ", p).replace("\n", " ").strip() for p in PARAGRAPH_BREAK.split(out)
    )
    return "\n\n".join(p for p in paragraphs if p)


# `TOKEN.findall` in C for the common case: every byte of the UTF-8 text that can be no part of a
# token becomes a space (a non-ASCII character's bytes are all >= 128, and `[a-z0-9]` matches no
# non-ASCII character). A chunk left between spaces made only of letters and digits is a token;
# one with a joiner (".", "'", "-") goes through `TOKEN` itself.
_TOKEN_BYTES: Final = bytes(
    c if 0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 or c in b".'-" else 0x20 for c in range(256)
)


def chunks(text: str) -> list[str]:
    """The space-separated chunks of normalized text that hold its tokens (see `chunk_tokens`)."""
    folded = normalize_text(text).casefold()
    return folded.encode("utf-8", "surrogatepass").translate(_TOKEN_BYTES).decode("ascii").split()


def chunk_tokens(chunk: str) -> list[str]:
    """The tokens of one chunk of `chunks(text)`: `tokens(text)` is theirs, chunk after chunk."""
    return [chunk] if chunk.isalnum() else TOKEN.findall(chunk)


def tokens(text: str) -> list[str]:
    """Lower-case word tokens of normalized text (numbers and hyphenated names kept whole)."""
    out: list[str] = []
    for chunk in chunks(text):
        if chunk.isalnum():
            out.append(chunk)
        else:
            out += TOKEN.findall(chunk)
    return out


def _is_tracking(key: str) -> bool:
    k = key.lower()
    return k.startswith("utm_") or k in TRACKING_PARAMS


def canonical_url(url: str) -> str:
    """The canonical form of `url`; text that is not an absolute URL comes back only stripped."""
    raw = url.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:  # "http://[::1" or port 99999: not a URL we can canonicalise, keep as sent
        return raw
    if not parts.scheme or not parts.netloc:
        return raw
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    pairs = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    )
    query = urlencode(pairs, quote_via=quote, safe="/:@!$'()*,;=-._~")
    return urlunsplit((scheme, netloc, path, query, ""))


def normalize_sources(
    sources: Iterable[Mapping[str, str | None]],
) -> tuple[tuple[dict[str, str | None], ...], list[Evidence]]:
    """Sources with canonical URLs, the same URL kept once (first wins, gaps filled from later)."""
    kept: dict[str, dict[str, str | None]] = {}
    dropped: list[str] = []
    for source in sources:
        url = canonical_url(source.get("url") or "")
        if not url:
            continue
        publisher = normalize_text(source.get("publisher") or "") or None
        published_at = source.get("published_at") or None
        if url in kept:
            dropped.append(url)
            first = kept[url]
            first["publisher"] = first["publisher"] or publisher
            first["published_at"] = first["published_at"] or published_at
            continue
        kept[url] = {"url": url, "publisher": publisher, "published_at": published_at}
    ev = [evidence("duplicate-source-url", dropped)] if dropped else []
    return tuple(kept.values()), ev

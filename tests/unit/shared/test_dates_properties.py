"""Properties of the `occurred` parser: every valid ISO 8601 / EDTF level-1 form parses and keeps
its text, precision and span; everything else raises DateParseError and nothing else."""

from __future__ import annotations

import calendar
import re
from datetime import date

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from shared.dates import DateParseError, OccurredDate, Precision, from_day, parse_occurred

QUALIFIERS = ["", "~", "?", "%"]


@st.composite
def parts(draw: st.DrawFn) -> tuple[str, date, date, Precision, str]:
    """One valid date part as text, with the span and precision it must parse to."""
    year = draw(st.integers(1, 9999))
    precision = draw(st.sampled_from(list(Precision)))
    q = draw(st.sampled_from(QUALIFIERS))
    if precision is Precision.YEAR:
        return f"{year:04d}{q}", date(year, 1, 1), date(year, 12, 31), precision, q
    month = draw(st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    if precision is Precision.MONTH:
        text = f"{year:04d}-{month:02d}{q}"
        return text, date(year, month, 1), date(year, month, last), precision, q
    day = draw(st.integers(1, last))
    d = date(year, month, day)
    return f"{d.isoformat()}{q}", d, d, precision, q


def _flags(qualifiers: set[str]) -> tuple[bool, bool]:
    return bool(qualifiers & {"~", "%"}), bool(qualifiers & {"?", "%"})


class TestValidFormsRoundTrip:
    @given(parts())
    def test_a_single_date_keeps_its_text_precision_and_span(
        self, part: tuple[str, date, date, Precision, str]
    ) -> None:
        text, start, end, precision, q = part
        parsed = parse_occurred(text)
        assert parsed == OccurredDate(text, precision, start, end, *_flags({q}))
        assert parse_occurred(parsed.text) == parsed  # the stored text parses to the same value

    @given(parts(), parts())
    def test_an_interval_spans_from_its_first_start_to_its_last_end(
        self,
        left: tuple[str, date, date, Precision, str],
        right: tuple[str, date, date, Precision, str],
    ) -> None:
        assume(left[1] <= right[2])
        text = f"{left[0]}/{right[0]}"
        parsed = parse_occurred(text)
        order = list(Precision)
        coarsest = min(left[3], right[3], key=order.index)
        flags = _flags({q for q in (left[4], right[4]) if q})
        expected = OccurredDate(text, coarsest, left[1], right[2], *flags, interval=True)
        assert parsed == expected
        assert parse_occurred(parsed.text) == parsed

    @given(parts(), st.sampled_from(["", ".."]), st.booleans())
    def test_an_open_interval_runs_to_the_end_of_time(
        self, part: tuple[str, date, date, Precision, str], open_end: str, open_left: bool
    ) -> None:
        text = f"{open_end}/{part[0]}" if open_left else f"{part[0]}/{open_end}"
        parsed = parse_occurred(text)
        assert parsed.interval and parsed.precision is part[3]
        if open_left:
            assert (parsed.start, parsed.end) == (date.min, part[2])
        else:
            assert (parsed.start, parsed.end) == (part[1], date.max)

    @given(parts(), st.text(" \t\n", max_size=3), st.text(" \t\n", max_size=3))
    def test_surrounding_whitespace_is_not_part_of_the_date(
        self, part: tuple[str, date, date, Precision, str], before: str, after: str
    ) -> None:
        assert parse_occurred(before + part[0] + after).text == part[0]

    @given(st.dates(min_value=date(1, 1, 1)), st.sampled_from(list(Precision)))
    def test_from_day_truncates_to_the_precision(self, d: date, precision: Precision) -> None:
        parsed = from_day(d, precision)
        assert parsed.precision is precision
        assert parsed.start <= d <= parsed.end


# An independent statement of what is valid, to compare the parser against.
_STRICT_PART = re.compile(r"(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2}))?)?[~?%]?")


def _span(part: str) -> tuple[date, date] | None:
    m = _STRICT_PART.fullmatch(part)
    if m is None or int(m["y"]) < 1:
        return None
    y = int(m["y"])
    if m["m"] is None:
        return date(y, 1, 1), date(y, 12, 31)
    month = int(m["m"])
    if not 1 <= month <= 12:
        return None
    last = calendar.monthrange(y, month)[1]
    if m["d"] is None:
        return date(y, month, 1), date(y, month, last)
    if not 1 <= int(m["d"]) <= last:
        return None
    d = date(y, month, int(m["d"]))
    return d, d


def is_valid(text: str) -> bool:
    raw = text.strip()
    if not raw:
        return False
    if raw.count("/") > 1:
        return False
    if "/" not in raw:
        return _span(raw) is not None
    left, right = raw.split("/")
    open_l, open_r = left in ("", ".."), right in ("", "..")
    if open_l and open_r:
        return False
    lo = None if open_l else _span(left)
    hi = None if open_r else _span(right)
    if (not open_l and lo is None) or (not open_r and hi is None):
        return False
    return lo is None or hi is None or lo[0] <= hi[1]


# ASCII digits, date punctuation, and look-alike digits (Arabic-Indic U+0660-0669).
DATEISH = st.text(
    alphabet="0123456789-/~?%. \n\t:T+Z" + "".join(map(chr, range(0x660, 0x66A))), max_size=25
)


class TestAnythingElseIsADateParseError:
    @given(st.one_of(st.text(max_size=40), DATEISH))
    @example("2019\n/2020")  # a line break inside the text, before the '/'
    @example("2019-03-11\n")
    @example("\u0662\u0660\u0661\u0669")  # Arabic-Indic digits: not ISO 8601
    @example("\uff12\uff10\uff11\uff19")  # full-width digits
    @example("2019-02-29")
    @example("0000/2019")
    @example("2019/..")
    @example("../..")
    @example("2019~?")
    def test_parses_exactly_the_valid_forms_and_raises_only_date_parse_error(
        self, text: str
    ) -> None:
        try:
            parsed = parse_occurred(text)
        except DateParseError:
            assert not is_valid(text), f"{text!r} is valid but was refused"
            return
        assert is_valid(text), f"{text!r} was accepted as {parsed}"
        assert parsed.text == text.strip()

    @pytest.mark.parametrize("text", ["", "   ", "/", "..", "2019//2020", "2019-1", "19"])
    def test_known_bad_forms(self, text: str) -> None:
        with pytest.raises(DateParseError):
            parse_occurred(text)

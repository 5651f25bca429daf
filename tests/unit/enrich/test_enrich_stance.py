"""stance: -1 closed .. +1 open on model openness, 0 without evidence."""

from __future__ import annotations

import pytest

from services.enrich.steps.stance import score_stance


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        # open
        ("gpt-oss-120b released as open weights under Apache 2.0", 0.9, 1.0),
        ("Whisper released with code and weights under the MIT licence", 0.9, 1.0),
        ("DeepSeek-R1 published with open weights under the MIT license", 0.9, 1.0),
        ("Altman: OpenAI has been on the wrong side of history on open source", 0.9, 1.0),
        ("Llama 2 free for research and commercial use under a custom licence", 0.4, 0.8),
        ("LeCun and others sign a letter calling for openness in AI", 0.2, 0.4),
        ("LLaMA released under a research-only licence", 0.0, 0.2),
        # closed
        ("GPT-2: full weights withheld, a small model released in a staged release", -1.0, -0.8),
        ("GPT-4 released; architecture and training details withheld", -0.5, -0.3),
        ("GPT-4 ships without disclosing its architecture", -0.5, -0.3),
        ("A closed-source model available API-only", -1.0, -0.8),
        ("The API opens as a private beta", -0.3, -0.1),
        # no evidence
        ("Musk sues OpenAI in San Francisco", 0.0, 0.0),
        ("", 0.0, 0.0),
    ],
)
def test_stance(text: str, low: float, high: float) -> None:
    stance, ev = score_stance(text)
    assert low <= stance <= high, ev
    assert isinstance(stance, float)
    if low == high == 0.0:
        assert ev == []


def test_stance_is_clamped_and_explained() -> None:
    stance, ev = score_stance(
        "open weights, open source, MIT, code and weights, wrong side of history, openness"
    )
    assert stance == 1.0
    assert {e["rule"] for e in ev} >= {"stance:open-weights", "stance:wrong-side-of-history"}
    assert all(e["words"] for e in ev)


def test_withheld_weights_are_not_read_as_released_weights() -> None:
    _, ev = score_stance("staged release; full weights held back")
    rules = {e["rule"] for e in ev}
    assert "stance:weights-withheld" in rules
    assert "stance:released-weights" not in rules

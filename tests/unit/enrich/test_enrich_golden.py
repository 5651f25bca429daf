"""The pipeline's whole output on the seed events and the reference rows, pinned.

Speed work on the steps must not change a label, a confidence, an evidence entry or a score.
Regenerate `golden_pipeline.json` only for an intended change of output:
`python -m tests.unit.enrich.test_enrich_golden` (and review the diff).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pivotwatch.seed import seed_events
from services.enrich.decode import to_report
from services.enrich.pipeline import Report, enrich
from shared.dates import parse_occurred
from tests.unit.enrich.test_enrich_category import REFERENCE_ROWS

GOLDEN = Path(__file__).with_name("golden_pipeline.json")


def _outputs() -> list[dict[str, Any]]:
    reports = [to_report(ev["data"]) for ev in seed_events()]
    for day, company, title, category in REFERENCE_ROWS:
        for tags in ((), (category,)):
            reports.append(
                Report(company=company, occurred=parse_occurred(day), title=title, tags=tags)
            )
    out = []
    for report in reports:
        data = enrich(report).as_dict()
        for text in ("title", "summary", "body"):  # the input, normalized: tested elsewhere
            del data[text]
        out.append(data)
    return out


def test_pipeline_output_is_unchanged() -> None:
    expected = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(_outputs()))
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, i


if __name__ == "__main__":
    lines = [json.dumps(o, ensure_ascii=False, separators=(",", ":")) for o in _outputs()]
    GOLDEN.write_text("[\n" + ",\n".join(lines) + "\n]\n")

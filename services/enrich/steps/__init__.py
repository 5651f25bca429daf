"""Pure enrichment steps: data in, labels plus the evidence that produced them out.

One module per step (normalize, companies, entities, category, phase, stance, importance, dedup,
links). They share the evidence shape, `{"rule": ..., "words": [...]}` with optional
extra keys; `RuleSet`, the named, weighted `Rule`s a step declares and asks which fired; and
`Lexicon`, the whole-phrase matcher the vocabulary-driven steps compile once at import.

This package module only names them; `core` defines them.
"""

from services.enrich.steps.core import Evidence, Hit, Lexicon, Rule, RuleSet, evidence

__all__ = ["Evidence", "Hit", "Lexicon", "Rule", "RuleSet", "evidence"]

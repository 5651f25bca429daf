"""Enrichment: the pure pipeline (`pipeline`, `steps`) and the workers that store its output."""

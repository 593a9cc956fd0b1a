"""Discriminative probes trained on tokens (the DASB recipe, small by default)."""

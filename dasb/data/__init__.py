"""Corpora: manifests of utterances and readers for common layouts."""
from dasb.data.corpus import Corpus, Utterance, load_corpus

__all__ = ["Corpus", "Utterance", "load_corpus"]

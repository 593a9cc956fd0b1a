"""Tokenizer interface, framework runtime, cards and adapters."""
from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo

__all__ = ["AudioTokenizer", "Tokens", "TokenizerInfo"]

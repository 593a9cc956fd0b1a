"""dasb: a benchmark and evaluation suite for discrete audio tokenizers."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dasb")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

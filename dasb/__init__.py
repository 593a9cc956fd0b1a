"""dasb: a benchmark and evaluation suite for discrete audio tokenizers."""
import os
from importlib.metadata import PackageNotFoundError, version

# Idle OpenMP threads sleep instead of spinning: a model in the main process shares the cores with metric workers
# and other programs (dasb.threads), and spinning threads made Griffin-Lim decoding 17x slower with two
# threads on a loaded 2-core machine (equal to one thread once passive). Effective when dasb is imported before
# torch, as by the `dasb` command; a value already set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    __version__ = version("dasb")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

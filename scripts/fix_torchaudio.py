"""Make torchaudio importable next to a CPU-only torch.

PyPI's torchaudio 2.11 wheel is a CUDA build whose compiled extension links
libc10_cuda.so. dasb uses only torchaudio's pure-Python functional code
(resample, mel filterbanks, Griffin-Lim), which works without the extension,
so when the import fails for that reason the extension libraries are removed.
"""
import importlib.util
import pathlib
import sys


def main() -> int:
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or spec.origin is None:
        return 0
    try:
        import torchaudio  # noqa: F401
        return 0
    except OSError as err:
        if "cuda" not in f"{err} {err.__cause__}".lower():
            raise
    libdir = pathlib.Path(spec.origin).parent / "lib"
    removed = [p.name for p in libdir.glob("*.so")]
    for p in libdir.glob("*.so"):
        p.unlink()
    print(f"fix_torchaudio: removed CUDA-linked extension {removed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

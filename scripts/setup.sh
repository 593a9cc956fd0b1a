#!/usr/bin/env bash
# Create .venv and install dasb with everything the default suite needs.
#   bash scripts/setup.sh          # default suite dependencies
#   bash scripts/setup.sh test     # plus test dependencies (pytest, headless Chromium via apt when root)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
"${pip[@]}" "torch==2.13.0" "numpy>=2.0,<2.5"
# torchaudio's PyPI wheel declares no torch requirement; --no-deps keeps our torch.
"${pip[@]}" --no-deps "torchaudio==2.11.0"
.venv/bin/python scripts/fix_torchaudio.py
extras="default"
[ "${1:-}" = "test" ] && extras="default,test"
"${pip[@]}" -e ".[${extras}]"
if [ "${1:-}" = "test" ]; then
    # The Whisper tests use a random-init model; openai-whisper's own requirements would add triton
    # (GPU kernels, hundreds of MB) that CPU inference never uses, so it comes without them.
    "${pip[@]}" --no-deps "openai-whisper==20250625"
    "${pip[@]}" "tiktoken>=0.7,<0.15" "more-itertools>=10" "numba>=0.60,<0.69"
fi
.venv/bin/python scripts/fix_torchaudio.py
# The leaderboard's end-to-end test drives Debian's headless Chromium (it skips, saying why, without it).
if [ "${1:-}" = "test" ] && [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
        || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
fi

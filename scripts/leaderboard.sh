#!/usr/bin/env bash
# Run the default suite (resuming runs/default) and regenerate the committed leaderboard under leaderboard/:
# the static site (index.html, benchmark and tokenizer pages, plots, listening examples) plus leaderboard.md/.csv.
#   bash scripts/leaderboard.sh [extra run directories to merge...]
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/dasb run --out runs/default >/dev/null || echo "the default run recorded errors; they are shown on the site" >&2
rm -rf leaderboard/plots leaderboard/audio leaderboard/*.html
.venv/bin/dasb leaderboard runs/default "$@" --format html --out leaderboard

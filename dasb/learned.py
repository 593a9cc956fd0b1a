"""Pieces shared by the learned offline baselines: k-means, residual VQ, checkpoints.

A checkpoint is a folder with ``model.safetensors`` (tensors) and
``config.json`` (everything else: feature settings, training corpus, seed).
Cards name a checkpoint by path, or by the name of a folder under
``dasb/data/checkpoints`` (the ones shipped with the package); the card's
``revision`` is the first 12 hex digits of the SHA-256 of ``model.safetensors``,
so a retrained checkpoint cannot silently reuse old results.

Training runs in float64 and the checkpoint stores float32: float32 features
differ in the last bit between CPUs (torchaudio's mel filterbank alone differs
in 18 entries between torch's AVX2 and default kernels), and k-means turns such
a difference into other centroids a few stages later, so a float32 training
reproduced its checkpoint only on the kind of machine that made it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

CHECKPOINTS_DIR = Path(__file__).parent / "data" / "checkpoints"
TENSORS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def _safetensors():
    try:
        import safetensors.torch
    except ImportError as err:
        raise ImportError("learned baselines need safetensors: pip install 'dasb[learned]'") from err
    return safetensors.torch


@contextmanager
def float64_default() -> Iterator[None]:
    """Make float64 torch's default dtype inside the block, so feature extractors
    built there (filterbanks, windows) are computed and kept in float64."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def kmeans(x: torch.Tensor, k: int, iterations: int, seed: int) -> torch.Tensor:
    """Centroids ``[k, D]`` of points ``x`` ``[N, D]``: k-means++ seeding, then Lloyd iterations.

    Computed in the dtype of ``x``; deterministic for a given ``seed``. A cluster that loses all its points
    keeps its previous centroid.
    """
    if x.shape[0] < k:
        raise ValueError(f"k-means needs at least k={k} points, got {x.shape[0]}")
    gen = torch.Generator().manual_seed(seed)
    centroids = x[torch.randint(x.shape[0], (1,), generator=gen)]
    nearest = torch.cdist(x, centroids).pow(2).squeeze(1)
    for _ in range(1, k):
        pick = torch.multinomial(nearest / nearest.sum(), 1, generator=gen)
        centroids = torch.cat([centroids, x[pick]])
        nearest = torch.minimum(nearest, (x - x[pick]).pow(2).sum(dim=1))
    for _ in range(iterations):
        assign = torch.cdist(x, centroids).argmin(dim=1)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids


def nearest(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook row for each row of ``x``."""
    return torch.cdist(x, codebook).argmin(dim=1)


def train_rvq(x: torch.Tensor, stages: int, size: int, iterations: int, seed: int) -> torch.Tensor:
    """Residual VQ codebooks ``[stages, size, D]``: k-means on what earlier stages left over."""
    residual = x.clone()
    books = []
    for s in range(stages):
        book = kmeans(residual, size, iterations, seed + s)
        residual -= book[nearest(residual, book)]
        books.append(book)
    return torch.stack(books)


def rvq_encode(x: torch.Tensor, books: torch.Tensor) -> torch.Tensor:
    """Codes ``[stages, T]`` of vectors ``x`` ``[T, D]`` under residual codebooks ``books``."""
    residual = x.clone()
    codes = []
    for book in books:
        idx = nearest(residual, book)
        residual -= book[idx]
        codes.append(idx)
    return torch.stack(codes)


def rvq_decode(codes: torch.Tensor, books: torch.Tensor) -> torch.Tensor:
    """Sum of the chosen codebook rows: ``[stages, T]`` codes -> ``[T, D]``."""
    return sum(book[c] for book, c in zip(books, codes))


def save_checkpoint(folder: str | Path, tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> str:
    """Write a checkpoint folder of float32 tensors; returns its revision (see module docstring)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stored = {k: v.to(torch.float32).contiguous() for k, v in tensors.items()}
    _safetensors().save_file(stored, str(folder / TENSORS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return checkpoint_revision(folder)


def checkpoint_revision(folder: str | Path) -> str:
    """First 12 hex digits of the SHA-256 of the checkpoint's tensors file."""
    return hashlib.sha256((Path(folder) / TENSORS_FILE).read_bytes()).hexdigest()[:12]


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    """The checkpoint folder: ``checkpoint`` as a path, else a folder shipped under ``dasb/data/checkpoints``."""
    for folder in (Path(checkpoint), CHECKPOINTS_DIR / str(checkpoint)):
        if (folder / TENSORS_FILE).is_file() and (folder / CONFIG_FILE).is_file():
            return folder
    raise FileNotFoundError(
        f"checkpoint {str(checkpoint)!r} not found (looked for {TENSORS_FILE} and {CONFIG_FILE} in "
        f"{Path(checkpoint).resolve()} and {CHECKPOINTS_DIR / str(checkpoint)}); train one with "
        "`dasb train baseline --data mini --out DIR` (or `dasb train mfcc-kmeans ...`) and give DIR as the checkpoint"
    )


def load_checkpoint(checkpoint: str | Path, revision: str | None, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and config of a checkpoint of ``kind``; checks ``revision`` when given."""
    folder = resolve_checkpoint(checkpoint)
    if revision is not None and checkpoint_revision(folder) != revision:
        raise ValueError(
            f"checkpoint {folder} has revision {checkpoint_revision(folder)}, the card asks for {revision}; "
            "update the card's revision if the checkpoint was retrained on purpose"
        )
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    if config.get("kind") != kind:
        raise ValueError(f"checkpoint {folder} is a {config.get('kind')!r} checkpoint, expected {kind!r}")
    return _safetensors().load_file(str(folder / TENSORS_FILE)), config

"""Training and evaluation of token probes: splits, batches, early stopping.

Everything is seeded (``ProbeConfig.seed``): splits, initialisation, batch
order and training crops, so a run is repeatable on the same device.
"""
from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from dasb.metrics.text import EditCounts, char_edits, normalize_text, word_edits
from dasb.probes.model import CTCRecognizer, SpeakerClassifier, TokenFrontEnd, ctc_greedy


@dataclass(frozen=True)
class ProbeConfig:
    """Probe sizes and training budget. The defaults train in well under a minute on the mini corpus (CPU)."""

    emb_dim: int = 64
    hidden: int = 96
    lstm_layers: int = 2
    max_frame_rate: float = 50.0  # faster token streams: frames concatenated in groups
    max_stack: int = 400  # beyond this stacking factor a tokenizer is skipped
    max_input_width: int = 1024  # emb_dim shrinks so that emb_dim * stack stays below this
    max_vocab: int = 65536  # per codebook; beyond it a tokenizer is skipped
    ctc_min_frame_rate: float = 40.0  # slower token streams are upsampled for CTC
    init_from_codebooks: bool = True
    epochs: int = 30
    patience: int = 10
    lr: float = 2e-3
    batch_size: int = 8
    crop_seconds: float = 2.0  # speaker training crops
    valid_fraction: float = 0.15
    test_fraction: float = 0.25
    seed: int = 0
    device: str = "cpu"  # or "cuda", or "auto" (cuda when available)
    threads: int = 1  # small recurrent nets gain nothing from more, and thrash on a shared CPU

    def __post_init__(self) -> None:
        if self.device == "auto":
            object.__setattr__(self, "device", "cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Example:
    """One utterance's tokens: codes ``[K, T]``, validity ``[K, T]``, and its labels."""

    id: str
    codes: torch.Tensor
    valid: torch.Tensor
    text: str | None
    speaker: str | None


def speaker_split(examples: list[Example], cfg: ProbeConfig) -> tuple[list[Example], list[Example], list[Example], int]:
    """Train/valid/test within each speaker; speakers with fewer than 3 utterances are left out.

    Returns the three lists and the number of speakers left out.
    """
    rng = random.Random(cfg.seed)
    by_spk: dict[str, list[Example]] = {}
    for ex in examples:
        if ex.speaker:
            by_spk.setdefault(ex.speaker, []).append(ex)
    train, valid, test, dropped = [], [], [], 0
    for spk in sorted(by_spk):
        group = sorted(by_spk[spk], key=lambda e: e.id)
        if len(group) < 3:
            dropped += 1
            continue
        rng.shuffle(group)
        n_test = max(1, round(cfg.test_fraction * len(group)))
        n_valid = max(1, round(cfg.valid_fraction * len(group)))
        test += group[:n_test]
        valid += group[n_test : n_test + n_valid]
        train += group[n_test + n_valid :]
    return train, valid, test, dropped


def text_split(examples: list[Example], cfg: ProbeConfig) -> tuple[list[Example], list[Example], list[Example]]:
    """Train/valid/test by utterance, keeping utterances with the same transcript together.

    Corpora with parallel prompts (the same sentence read by several voices)
    would otherwise leak test sentences into training.
    """
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        if ex.text and normalize_text(ex.text):
            groups.setdefault(normalize_text(ex.text), []).append(ex)
    keys = sorted(groups)
    if len(keys) < 3:
        raise ValueError(f"the ASR probe needs at least 3 distinct transcripts, got {len(keys)}")
    random.Random(cfg.seed).shuffle(keys)
    total = sum(len(g) for g in groups.values())
    test: list[Example] = []
    valid: list[Example] = []
    train: list[Example] = []
    for key in keys:
        if len(test) < max(1, cfg.test_fraction * total):
            test += groups[key]
        elif len(valid) < max(1, cfg.valid_fraction * total):
            valid += groups[key]
        else:
            train += groups[key]
    if not train:
        raise ValueError(f"no transcript left for training the ASR probe ({len(keys)} distinct transcripts)")
    return train, valid, test


def _batch(examples: list[Example], device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    k = examples[0].codes.shape[0]
    t = max(ex.codes.shape[1] for ex in examples)
    codes = torch.zeros(len(examples), k, t, dtype=torch.int64)
    valid = torch.zeros(len(examples), k, t, dtype=torch.bool)
    for b, ex in enumerate(examples):
        codes[b, :, : ex.codes.shape[1]] = ex.codes
        valid[b, :, : ex.codes.shape[1]] = ex.valid
    lengths = torch.tensor([ex.codes.shape[1] for ex in examples])
    return codes.to(device), valid.to(device), lengths.to(device)


def _crop(ex: Example, frames: int, rng: random.Random) -> Example:
    t = ex.codes.shape[1]
    if t <= frames:
        return ex
    s = rng.randrange(t - frames + 1)
    return Example(ex.id, ex.codes[:, s : s + frames], ex.valid[:, s : s + frames], ex.text, ex.speaker)


def _fit(
    model: torch.nn.Module,
    train: list[Example],
    loss_fn: Callable[[list[Example]], torch.Tensor],
    valid_loss: Callable[[], float],
    cfg: ProbeConfig,
    prepare: Callable[[Example, random.Random], Example] = lambda ex, rng: ex,
) -> int:
    """Adam with early stopping on the validation loss; restores the best weights. Returns epochs run."""
    rng = random.Random(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    best, best_state, waited, epoch = math.inf, copy.deepcopy(model.state_dict()), 0, 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = train[:]
        rng.shuffle(order)
        for start in range(0, len(order), cfg.batch_size):
            opt.zero_grad()
            loss = loss_fn([prepare(ex, rng) for ex in order[start : start + cfg.batch_size]])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        model.eval()
        with torch.no_grad():
            current = valid_loss()
        if current < best - 1e-4:
            best, best_state, waited = current, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return epoch


def _batches(examples: list[Example], size: int) -> list[list[Example]]:
    return [examples[i : i + size] for i in range(0, len(examples), size)]


def train_speaker_probe(
    make_front: Callable[[], TokenFrontEnd], train: list[Example], valid: list[Example], test: list[Example],
    frame_rate: float, cfg: ProbeConfig,
) -> tuple[list[bool], list[bool], int]:
    """Per test utterance: probe correct?, majority-class guess correct?; and epochs run.

    ``frame_rate`` is the token rate (training crops are cut from the codes).
    """
    speakers = sorted({ex.speaker for ex in train})
    label = {s: i for i, s in enumerate(speakers)}
    torch.manual_seed(cfg.seed)
    model = SpeakerClassifier(make_front(), cfg.hidden, len(speakers)).to(cfg.device)
    crop = max(1, round(cfg.crop_seconds * frame_rate))

    def loss_on(batch: list[Example]) -> torch.Tensor:
        target = torch.tensor([label[ex.speaker] for ex in batch], device=cfg.device)
        return F.cross_entropy(model(*_batch(batch, cfg.device)), target)

    def valid_loss() -> float:
        return sum(float(loss_on(b)) * len(b) for b in _batches(valid, cfg.batch_size)) / len(valid)

    epochs = _fit(model, train, loss_on, valid_loss, cfg, prepare=lambda ex, rng: _crop(ex, crop, rng))
    with torch.no_grad():
        guesses = [s for b in _batches(test, cfg.batch_size) for s in model(*_batch(b, cfg.device)).argmax(-1).tolist()]
    majority = max(speakers, key=lambda s: sum(ex.speaker == s for ex in train))
    return ([speakers[g] == ex.speaker for g, ex in zip(guesses, test)],
            [ex.speaker == majority for ex in test], epochs)


def train_asr_probe(
    make_front: Callable[[], TokenFrontEnd], train: list[Example], valid: list[Example], test: list[Example],
    frame_rate: float, cfg: ProbeConfig,
) -> tuple[list[EditCounts], list[EditCounts], list[str], int]:
    """Per test utterance: word and character edit counts and the hypothesis; and epochs run.

    ``frame_rate`` is the rate after stacking (CTC upsampling depends on it).
    """
    symbols = sorted({c for ex in train for c in normalize_text(ex.text or "")})
    index = {c: i + 1 for i, c in enumerate(symbols)}  # 0 is the CTC blank
    upsample = max(1, math.ceil(cfg.ctc_min_frame_rate / frame_rate))
    torch.manual_seed(cfg.seed)
    model = CTCRecognizer(make_front(), cfg.hidden, cfg.lstm_layers, len(symbols), upsample).to(cfg.device)

    def loss_on(batch: list[Example]) -> torch.Tensor:
        targets = [torch.tensor([index[c] for c in normalize_text(ex.text) if c in index]) for ex in batch]
        log_probs, n = model(*_batch(batch, cfg.device))
        return F.ctc_loss(
            log_probs.transpose(0, 1), torch.cat(targets).to(cfg.device), n,
            torch.tensor([len(t) for t in targets], device=cfg.device), blank=0, zero_infinity=True,
        )

    def valid_loss() -> float:
        return sum(float(loss_on(b)) * len(b) for b in _batches(valid, cfg.batch_size)) / len(valid)

    epochs = _fit(model, train, loss_on, valid_loss, cfg)
    hyps = []
    with torch.no_grad():
        for b in _batches(test, cfg.batch_size):
            log_probs, n = model(*_batch(b, cfg.device))
            hyps += ["".join(symbols[i - 1] for i in seq) for seq in ctc_greedy(log_probs, n)]
    words = [word_edits(ex.text, h) for ex, h in zip(test, hyps)]
    chars = [char_edits(ex.text, h) for ex, h in zip(test, hyps)]
    return words, chars, hyps, epochs

"""The 16 systems of issue 17: each has a card, and `dasb list tokenizers --all` says built / weights / reason."""
from __future__ import annotations

from dasb.tokenizers.cards import load_cards

# One card per seed system (a system with several published configurations is checked by its first card).
SEED_CARDS = ["wavtokenizer-large-40", "xy-tokenizer", "tadicodec", "glm-4-voice-tokenizer", "cosyvoice-s3-v1",
              "cosyvoice2-s3", "lm-spt", "sylber", "beats-tokenizer-iter3plus-as2m", "fireredtts-tokenizer", "fusecodec",
              "dm-codec-lm-sm", "secodec", "language-codec", "ustokenizer", "mingtok-audio", "spear-mvq"]


def test_every_seed_system_has_a_card_with_its_sources():
    cards = load_cards()
    missing = [n for n in SEED_CARDS if n not in cards]
    assert not missing, f"seed systems without a card: {missing}"
    for name in SEED_CARDS:
        card = cards[name]
        if card.status != "available":
            assert card.reason and card.evidence, f"{name}: an unavailable card needs a reason and its evidence"


def test_list_all_shows_built_weights_and_reasons(monkeypatch, capsys):
    from dasb.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DASB_WEIGHTS", raising=False)
    assert main(["list", "tokenizers", "--all"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["lm-spt"].split()[6:8] == ["no", "yes"]  # weights not here, architecture built here
    assert "weights: hub kakaocorp/lmspt" in rows["lm-spt"]
    assert rows["spear-mvq"].split()[6:8] == ["no", "no"] and "will be released" in rows["spear-mvq"]

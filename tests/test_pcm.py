from dasb.testing import check_tokenizer
from dasb.tokenizers.cards import get_card


def test_pcm_cards_conform():
    for name in ("pcm16", "pcm8", "pcm4", "mulaw8-16k", "mulaw8-8k"):
        check_tokenizer(get_card(name).build())

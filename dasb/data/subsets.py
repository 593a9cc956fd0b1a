"""Small, representative subsets of a corpus for light benchmark settings."""
from __future__ import annotations

from dasb.data.corpus import Utterance


def spread_over_speakers(utterances: list[Utterance], limit: int | None) -> list[Utterance]:
    """The first ``limit`` utterances taken round-robin over speakers, in corpus order.

    A prefix of a corpus sorted by speaker holds one voice only; taking turns
    keeps every speaker in a small subset. ``None`` keeps everything.
    """
    if limit is None or limit >= len(utterances):
        return list(utterances)
    queues: dict[str | None, list[Utterance]] = {}
    for u in utterances:
        queues.setdefault(u.speaker, []).append(u)
    chosen: set[str] = set()
    depth = 0
    while len(chosen) < limit:
        for queue in queues.values():
            if depth < len(queue) and len(chosen) < limit:
                chosen.add(queue[depth].id)
        depth += 1
    return [u for u in utterances if u.id in chosen]

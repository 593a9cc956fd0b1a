"""Where model weights come from, for every adapter family, and how they are checked.

Sources (searched in this order, never touching the network until the last step):
a card's local folder; ``$DASB_WEIGHTS/<source>/``; the Hugging Face cache (hub
cards) or the dasb weights folder ``~/.cache/dasb/weights`` (pinned file sets);
finally a download at the card's pinned revision — the hub for hub cards, the raw
files at a pinned GitHub commit (checked by SHA-256 before use) for Lyra and NISQA, a
pinned URL for files published outside any hub (BEATs; checked by SHA-256 when known).

    from dasb.weights import weights_file
    path = weights_file("nisqa", "nisqa.tar")      # verified local path, fetched if possible

    from dasb.weights import identity
    identity(card)                                 # "commit:<40 hex>" / "sha256:<hex>" / "absent" / None

``dasb weights list|fetch|verify`` is the command-line face of this package.
"""
from dasb.weights.base import WEIGHTS_ENV, WeightsCorrupt, WeightsUnavailable, file_sha256, offline
from dasb.weights.catalog import LocalFiles, Source, card_sources, hub_or_folder, identity
from dasb.weights.files import FILESETS, LYRA_V2, NISQA, FileSet, UrlFile, WeightFile, weights_file
from dasb.weights.hub import HubSource

__all__ = ["FILESETS", "FileSet", "HubSource", "LYRA_V2", "LocalFiles", "NISQA", "Source", "UrlFile", "WEIGHTS_ENV", "WeightFile",
           "WeightsCorrupt", "WeightsUnavailable", "card_sources", "file_sha256", "hub_or_folder", "identity", "offline",
           "weights_file"]

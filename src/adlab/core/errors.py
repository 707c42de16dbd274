"""User-facing errors: each carries the exit code the CLI returns and a one-line message.

The CLI catches :class:`AdlabError` and prints ``adlab: <message>`` without a traceback.
Exit codes: 2 for a wrong name or value given by the user, 3 for missing or corrupt data,
130 for an interrupted run.
"""

from __future__ import annotations


class AdlabError(Exception):
    """Base class of the errors a user can cause and fix; ``exit_code`` is what the CLI returns."""

    exit_code: int = 1


class UserError(AdlabError):
    """A wrong name, value or path given on the command line or to a public function."""

    exit_code = 2


class ConfigError(UserError, ValueError):
    """A configuration field that does not exist, has the wrong type or lies out of range."""


class UnknownNameError(UserError, KeyError):
    """A name (experiment, data set, model) that is not registered; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DataError(AdlabError):
    """Data that is missing, truncated or fails its checksum; the message says how to fix it."""

    exit_code = 3


class DataMissingError(DataError, FileNotFoundError):
    """A data set that is not on this machine; the message holds the command that fetches it."""


class DataCorruptError(DataError, ValueError):
    """A data file that exists but is truncated, malformed or has the wrong checksum."""


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """The registered names closest to ``name`` (difflib ratio, then substring matches)."""
    import difflib

    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.4)
    for c in candidates:
        if len(found) >= n:
            break
        if name and name.lower() in c.lower() and c not in found:
            found.append(c)
    return found


def unknown(kind: str, name: str, candidates: list[str]) -> UnknownNameError:
    """An :class:`UnknownNameError` naming the closest registered names."""
    near = closest(name, candidates)
    hint = f"; did you mean {', '.join(near)}?" if near else f"; known: {', '.join(sorted(candidates)[:8])}"
    return UnknownNameError(f"unknown {kind} '{name}'{hint}")

"""Registered claims of the sequences lecture (filled in by its issue)."""

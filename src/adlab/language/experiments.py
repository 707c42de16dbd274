"""Registered claims of the language lecture (filled in by its issue)."""

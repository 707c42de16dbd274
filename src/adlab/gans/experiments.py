"""Registered claims of the gans lecture (filled in by its issue)."""

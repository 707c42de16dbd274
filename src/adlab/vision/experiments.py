"""Registered claims of the vision lecture (filled in by its issue)."""

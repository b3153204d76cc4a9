"""Hostile-input tests (issue 28): each family generated, not listed."""

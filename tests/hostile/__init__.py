"""Hostile tests: each family of attack generated, not listed (issue 28, point 8)."""

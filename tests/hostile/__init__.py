"""Hostile-input tests (issue 28): each module generates one family of attacks and asserts real outcomes."""

"""Alembic migrations of the ledger's schema (``versions/``, oldest first)."""

"""Contracts: the record after the signature (issue 10; only the pure rules exist yet)."""

"""Contracts: the record after the signature (issue 10; only the pure rules exist yet)."""

# the search index follows every ORM change of a contract (a session event)
from accord.contracts.search import index as _search_index  # noqa: F401

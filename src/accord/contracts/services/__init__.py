"""Contract use cases, one module per group."""

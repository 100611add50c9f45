"""Accord: contract workflow and e-signature for customer-support organisations."""

__version__ = "0.1.0"

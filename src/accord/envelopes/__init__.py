"""envelopes."""

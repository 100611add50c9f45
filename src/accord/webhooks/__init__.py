"""Outbound webhooks: endpoints, Standard Webhooks signing, the SSRF-safe sender and
delivery through the outbox (``delivery``)."""

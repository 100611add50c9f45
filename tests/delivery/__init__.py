"""Tests of the delivery feature: outbox, worker, mail."""

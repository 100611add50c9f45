"""The envelope state machine, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.envelopes.domain import (
    EnvelopeState,
    EnvelopeStatus,
    RecipientRole,
    RecipientState,
    RecipientStatus,
    TransitionError,
)

S, A, CC = RecipientRole.SIGNER, RecipientRole.APPROVER, RecipientRole.CC


def env(*recipients: tuple[str, RecipientRole, int]) -> EnvelopeState:
    return EnvelopeState(EnvelopeStatus.DRAFT,
                         [RecipientState(i, role, order) for i, role, order in recipients])


def test_send_notifies_only_the_first_routing_order() -> None:
    e = env(("a", S, 1), ("b", S, 2), ("c", CC, 3))
    assert e.send() == ["a"]
    assert e.status is EnvelopeStatus.SENT
    assert [r.status for r in e.recipients] == [
        RecipientStatus.SENT, RecipientStatus.WAITING, RecipientStatus.CC]
    assert e.is_turn_of("a") and not e.is_turn_of("b") and not e.is_turn_of("c")


def test_sequence_moves_on_and_completes() -> None:
    e = env(("a", S, 1), ("b", A, 2), ("c", CC, 2))
    e.send()
    assert e.complete_recipient("a") == (["b"], False)
    assert e.is_turn_of("b")
    assert e.complete_recipient("b") == ([], True)
    assert e.status is EnvelopeStatus.COMPLETING  # until the sealed PDF exists
    assert all(r.status is RecipientStatus.COMPLETED for r in e.recipients)
    with pytest.raises(TransitionError):
        e.void()
    assert not e.expire(datetime.max.replace(tzinfo=UTC))
    e.sealed()
    assert e.status is EnvelopeStatus.COMPLETED
    with pytest.raises(TransitionError) as exc:
        e.sealed()  # only once
    assert exc.value.code == "envelope_not_completing"


def test_equal_orders_run_in_parallel_and_the_step_waits_for_all() -> None:
    e = env(("a", S, 1), ("b", S, 1), ("c", S, 2))
    assert sorted(e.send()) == ["a", "b"]
    assert e.is_turn_of("a") and e.is_turn_of("b")
    assert e.complete_recipient("b") == ([], False)
    assert not e.is_turn_of("c")
    assert e.complete_recipient("a") == (["c"], False)


def test_out_of_turn_actions_are_refused() -> None:
    e = env(("a", S, 1), ("b", S, 2))
    e.send()
    with pytest.raises(TransitionError) as exc:
        e.complete_recipient("b")
    assert exc.value.code == "not_your_turn"
    with pytest.raises(TransitionError):
        e.decline("b")


def test_cannot_send_twice_or_without_signers() -> None:
    e = env(("a", S, 1))
    e.send()
    with pytest.raises(TransitionError) as exc:
        e.send()
    assert exc.value.code == "envelope_not_draft"
    with pytest.raises(TransitionError) as exc:
        env(("c", CC, 1)).send()
    assert exc.value.code == "no_signers"


def test_decline_ends_the_envelope() -> None:
    e = env(("a", S, 1), ("b", S, 2))
    e.send()
    e.decline("a")
    assert e.status is EnvelopeStatus.DECLINED
    with pytest.raises(TransitionError) as exc:
        e.complete_recipient("a")
    assert exc.value.code == "envelope_not_active"


def test_void_from_draft_and_sent_only() -> None:
    e = env(("a", S, 1))
    e.void()
    assert e.status is EnvelopeStatus.VOIDED
    with pytest.raises(TransitionError):
        e.void()
    done = env(("a", S, 1))
    done.send()
    done.complete_recipient("a")
    with pytest.raises(TransitionError) as exc:
        done.void()
    assert exc.value.code == "envelope_not_voidable"


def test_expire_only_after_the_deadline_and_only_when_sent() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    e = env(("a", S, 1))
    e.expires_at = now + timedelta(days=1)
    assert not e.expire(now + timedelta(days=2))  # still a draft
    e.send()
    assert not e.expire(now)
    assert e.expire(now + timedelta(days=1))
    assert e.status is EnvelopeStatus.EXPIRED
    assert not e.is_turn_of("a")


def test_viewing_marks_delivered_once() -> None:
    e = env(("a", S, 1))
    e.send()
    assert e.mark_viewed("a") is True
    assert e.mark_viewed("a") is False
    assert e.recipients[0].status is RecipientStatus.DELIVERED
    assert e.is_turn_of("a")


@given(st.lists(st.tuples(st.sampled_from([S, A, CC]), st.integers(1, 4)), min_size=1,
                max_size=8))
def test_any_routing_completes_in_order_when_everyone_signs(
        spec: list[tuple[RecipientRole, int]]) -> None:
    e = env(*[(str(i), role, order) for i, (role, order) in enumerate(spec)])
    if not any(role is not CC for role, _ in spec):
        with pytest.raises(TransitionError):
            e.send()
        return
    active = set(e.send())
    finished_orders: list[int] = []
    while e.status is EnvelopeStatus.SENT:
        rid = sorted(active)[0]
        r = e.recipient(rid)
        assert r.routing_order == e.current_order()
        assert all(o <= r.routing_order for o in finished_orders)
        finished_orders.append(r.routing_order)
        nxt, done = e.complete_recipient(rid)
        active.discard(rid)
        active |= set(nxt)
        assert done == (e.status is EnvelopeStatus.COMPLETING)
    assert len(finished_orders) == sum(1 for role, _ in spec if role is not CC)

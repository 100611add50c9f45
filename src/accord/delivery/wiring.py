"""Delivery's wiring: the built-in ``email`` kind (a ready-made email in the payload)."""

from __future__ import annotations

from accord.delivery.handlers import EMAIL, plain_email
from accord.wiring import Task, Wiring

WIRING = Wiring(feature="delivery", tasks=(Task(EMAIL, plain_email),))

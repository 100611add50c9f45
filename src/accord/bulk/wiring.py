"""Bulk send's wiring: the task that turns a chunk of rows into envelopes, and the hook
fired when a batch finishes."""

from __future__ import annotations

from accord.bulk.services import TASK
from accord.bulk.tasks import BATCH_FINISHED, process_rows
from accord.wiring import Task, Wiring

WIRING = Wiring(feature="bulk", tasks=(Task(TASK, process_rows),), events=(BATCH_FINISHED,))

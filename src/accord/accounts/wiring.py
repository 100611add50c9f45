"""Accounts' wiring: the password-reset email."""

from __future__ import annotations

from accord.accounts.login import PASSWORD_RESET, reset_email
from accord.wiring import Task, Wiring

WIRING = Wiring(feature="accounts", tasks=(Task(PASSWORD_RESET, reset_email),))

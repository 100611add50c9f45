"""Use cases of the contract record, one module per group: ``renewals`` (the renewal
sweep, its notices and the pipeline), ``addenda`` (the renewal addendum drafted from the
organisation's template)."""

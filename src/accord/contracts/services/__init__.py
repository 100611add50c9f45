"""Use cases of the contract record, one module per group: ``renewals`` (the renewal
sweep and its notices), ``addenda`` (the renewal addendum drafted from the organisation's
template), ``pipeline`` (what is due for renewal, by band)."""

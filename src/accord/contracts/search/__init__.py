"""Contract search: the query language (``query``), the index kept in step with the
contracts (``index``) and the two databases' full-text SQL (``backends``)."""

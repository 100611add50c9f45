"""The documents library's error (re-exported by ``accord.documents.pdf``)."""

from __future__ import annotations

__all__ = ["DocumentError"]


class DocumentError(Exception):
    """A document was refused or could not be processed.

    ``code`` is stable and machine-readable (``document_not_pdf``, ``document_too_large``,
    ``document_too_many_pages``, ``document_encrypted``, ``document_empty``,
    ``document_bad_page``, ``document_bad_stamp``, ``document_too_complex``...);
    ``message`` is for people.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"

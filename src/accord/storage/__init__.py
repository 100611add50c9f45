"""Infrastructure: content-addressed, encrypted blob storage and the master key.

Knows no feature; every feature that keeps files (documents, signatures, mail
attachments) stores them through :class:`accord.storage.blobs.BlobStore`.
"""

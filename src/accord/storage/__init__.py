"""Infrastructure: content-addressed, encrypted blob storage, the master key and the key
store that makes crypto-shredding possible.

Knows no feature; every feature that keeps files (documents, signatures, mail
attachments) stores them through :class:`accord.storage.blobs.BlobStore`, in a group
(:mod:`accord.storage.keys`) when they must be destroyable on their own.
"""

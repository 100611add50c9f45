"""The ESIGN Act consumer disclosure shown before a signer may act. Versioned: the version a
signer accepted is recorded on the recipient and in the audit trail. Change the text only
together with a new version string."""

from __future__ import annotations

VERSION = "2026-11-v1"

TITLE = "Consent to use electronic records and signatures"

PARAGRAPHS = (
    "You are asked to sign or approve documents electronically. Under the US ESIGN Act and "
    "UETA, electronic records and signatures have the same legal effect as paper ones.",
    "By agreeing, you consent to receive these documents and related notices electronically "
    "and to sign them electronically. You can withdraw this consent at any time before you "
    "sign by declining; withdrawing has no fee and ends this signing process.",
    "You have the right to receive a paper copy: ask the sender, who may charge no more than "
    "the cost of printing and mailing it. You will be emailed a copy of the completed "
    "documents.",
    "To view and keep these records you need a device with a current web browser, an email "
    "account, and a way to save or print PDF files. If your email address changes, tell "
    "the sender.",
)

AGREE = ("I have read this disclosure, I can access and keep electronic records, and I agree "
         "to use electronic records and signatures.")

INTENT = ("I intend to sign these documents electronically, and I agree that my electronic "
          "signature is the legal equivalent of my handwritten signature.")

APPROVE_INTENT = ("I have reviewed these documents and I approve them electronically.")

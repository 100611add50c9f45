"""Settings from ACCORD_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob Accord has. Each one is read from ``ACCORD_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="ACCORD_", frozen=True)

    data_dir: Path = Field(Path("accord-data"), description="Where the embedded database, "
                           "blobs and generated keys live.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in "
                                     "data_dir. postgresql+psycopg://... for PostgreSQL.")
    master_key: str | None = Field(None, description="Base64 of 32 bytes that wrap every blob "
                                   "key; default: generated into data_dir/master.key.")
    key_store_path: Path | None = Field(None, description="The key store: the shred keys of "
                                        "grouped documents (README: Keys and "
                                        "crypto-shredding); default data_dir/keys.sqlite. "
                                        "Back it up apart from the database and blobs.")
    base_url: str = Field("http://127.0.0.1:8000", description="Public URL used in emails.")
    host: str = "127.0.0.1"
    port: int = 8000
    run_worker: bool = Field(True, description="Run the delivery worker inside `accord serve`.")
    seed_demo: bool = Field(True, description="Seed the demo organisation on a fresh database.")

    smtp_host: str | None = Field(None, description="SMTP server; unset = local mailbox.")
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "Accord <accord@localhost>"

    sms_url: str | None = Field(None, description="Twilio-style SMS endpoint (POST form To, "
                                "From, Body with HTTP basic auth); unset = local SMS sink.")
    sms_account: str | None = Field(None, description="Basic-auth user for ACCORD_SMS_URL.")
    sms_token: str | None = Field(None, description="Basic-auth password for ACCORD_SMS_URL.")
    sms_from: str = Field("Accord", description="Sender number or name of text messages.")
    sms_timeout_s: float = Field(5.0, description="Timeout of one SMS gateway request.")

    max_document_bytes: int = 25 * 1024 * 1024
    max_document_pages: int = 500
    max_documents: int = 20

    max_body_bytes: int = Field(1024 * 1024, gt=0, description="Largest request body of "
                                "routes without a larger limit (README: Limits); 413 past it.")
    max_upload_body_bytes: int | None = Field(None, gt=0, description="Largest body of the "
                                              "routes that carry PDFs (envelopes, templates); "
                                              "default: one max_document_bytes PDF as "
                                              "base64 plus 1 MiB.")
    bulk_max_csv_bytes: int = Field(20 * 1024 * 1024, gt=0, description="Largest bulk send "
                                    "CSV file (413 csv_too_large); the bulk routes' body "
                                    "limit is its base64 plus 1 MiB.")
    bulk_max_rows: int = Field(50_000, gt=0, description="Most data rows in one bulk send "
                               "CSV (413 csv_too_large).")
    # Document limits (README "Document limits"): what one PDF may cost to check and render.
    pdf_max_stream_bytes: int = Field(128 * 1024 * 1024, gt=0, description="Decoded bytes of "
                                      "one PDF stream (an image: width x height x "
                                      "components x bits); past it: document_too_complex.")
    pdf_max_decoded_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Decoded bytes "
                                       "of all streams of one PDF together.")
    pdf_max_objects: int = Field(50_000, gt=0, description="Indirect objects of one PDF.")
    pdf_max_streams: int = Field(20_000, gt=0, description="Streams of one PDF.")
    pdf_max_image_pixels: int = Field(100_000_000, gt=0, description="Width x height of one "
                                      "image in a PDF.")
    pdf_check_timeout_s: float = Field(15.0, gt=0, description="Wall clock of the limit "
                                       "check of one PDF.")
    pdf_render_memory_bytes: int = Field(1024 * 1024 * 1024, ge=256 * 1024 * 1024,
                                         description="Address space (RLIMIT_AS) of the "
                                         "subprocess that renders a page, searches anchor "
                                         "text or lays out a template (WeasyPrint).")
    pdf_render_timeout_s: float = Field(30.0, gt=0, description="Wall clock of one such "
                                        "rendering subprocess.")

    outbox_max_attempts: int = 8
    outbox_backoff_base_s: float = 2.0
    worker_poll_s: float = 0.5
    worker_lease_s: float = Field(120.0, gt=0, description="How long `accord worker` holds a "
                                  "claimed outbox row; after a crash the row is taken "
                                  "again once this has passed.")

    webhook_require_https: bool = Field(True, description="Webhook endpoint URLs must be "
                                        "https:// (set false only for local development).")
    webhook_allow_loopback: bool = Field(False, description="Let webhooks reach 127.0.0.0/8 "
                                         "and ::1. Tests only: never in production.")
    webhook_connect_timeout_s: float = Field(5.0, description="Connect timeout of one "
                                             "webhook delivery attempt.")
    webhook_timeout_s: float = Field(10.0, description="Read/write timeout of one webhook "
                                     "delivery attempt.")

    signing_pkcs12: Path | None = Field(None, description="Operator-supplied PKCS#12 "
                                        "for the seal instead of the generated one.")
    signing_pkcs12_password: str | None = None

    rate_limits: bool = Field(True, description="Answer 429 past the limits below.")
    rate_limit_ip_per_min: int = 1200
    rate_limit_api_key_per_min: int = 600
    rate_limit_login_per_min: int = 30
    rate_limit_signing_per_min: int = 120

    session_hours: int = 12
    signer_session_hours: int = 4
    secure_cookies: bool = Field(False, description="Mark cookies Secure (enable behind HTTPS).")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'accord.db').resolve()}"

    @property
    def key_store_file(self) -> Path:
        return self.key_store_path or self.data_dir / "keys.sqlite"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

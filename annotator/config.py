"""Settings, read once from the environment (and CLI flags) and passed down explicitly.

| setting            | environment variable          | default                                   |
|--------------------|-------------------------------|-------------------------------------------|
| database URL       | ``PROTOLABEL_DB``             | ``sqlite:///protolabel.db`` (working dir) |
| feature cache dir  | ``PROTOLABEL_DATA_DIR``       | beside the SQLite file; in the database    |
|                    |                               | for PostgreSQL                            |
| import size limit  | ``PROTOLABEL_MAX_IMPORT_MB``  | 2048                                      |
| upload size limit  | ``PROTOLABEL_MAX_UPLOAD_MB``  | 200 (the app's uploads)                   |
| import root        | ``PROTOLABEL_IMPORT_ROOT``    | none: the app imports uploads only        |
| device             | ``PROTOLABEL_DEVICE``         | ``auto`` (cuda when available, else cpu)  |
| seed               | ``PROTOLABEL_SEED``           | 0                                         |
| lease TTL          | ``PROTOLABEL_LEASE_TTL``      | 600 seconds: an item claimed and neither  |
|                    |                               | decided nor renewed returns to the pool   |

``PROTOLABEL_DB`` also accepts a plain file path, which means an SQLite file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from annotator.errors import ProtolabelError

DEFAULT_DB_FILE = "protolabel.db"


def normalize_db_url(value: str) -> str:
    """Turn a path or URL into an SQLAlchemy URL; a bare path means an SQLite file."""
    value = value.strip()
    if not value:
        raise ProtolabelError("empty database URL")
    if "://" in value:
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        return value
    return "sqlite:///" + str(Path(value).expanduser().resolve())


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ProtolabelError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything the store, services and app need to know about their surroundings."""

    db_url: str
    data_dir: Path | None = None
    max_import_bytes: int = 2048 * 1024 * 1024
    device: str = "auto"
    seed: int = 0
    max_upload_bytes: int = 200 * 1024 * 1024
    import_root: Path | None = None  # the app may import server paths under it, nowhere else
    lease_ttl_seconds: float = 600.0  # a claim not renewed for this long returns to the pool
    max_text_bytes: int = 1024 * 1024  # one text item
    max_image_pixels: int = 50_000_000  # one image
    max_zip_entries: int = 100_000  # one uploaded zip
    # Set by the app from its configuration (an OIDC login in .streamlit/secrets.toml), never
    # from the environment: the command line acts as the operator and never requires one.
    login_required: bool = False

    @classmethod
    def from_env(cls, db: str | None = None) -> Settings:
        """Settings from the environment; ``db`` (the ``--db`` flag) wins over ``PROTOLABEL_DB``."""
        url = db or os.environ.get("PROTOLABEL_DB") or DEFAULT_DB_FILE
        data_dir = os.environ.get("PROTOLABEL_DATA_DIR")
        import_root = os.environ.get("PROTOLABEL_IMPORT_ROOT")
        return cls(
            db_url=normalize_db_url(url),
            data_dir=Path(data_dir).expanduser().resolve() if data_dir else None,
            max_import_bytes=_int_env("PROTOLABEL_MAX_IMPORT_MB", 2048) * 1024 * 1024,
            device=os.environ.get("PROTOLABEL_DEVICE", "auto"),
            seed=_int_env("PROTOLABEL_SEED", 0),
            max_upload_bytes=_int_env("PROTOLABEL_MAX_UPLOAD_MB", 200) * 1024 * 1024,
            import_root=Path(import_root).expanduser().resolve() if import_root else None,
            lease_ttl_seconds=_int_env("PROTOLABEL_LEASE_TTL", 600),
            max_text_bytes=_int_env("PROTOLABEL_MAX_TEXT_MB", 1) * 1024 * 1024,
            max_image_pixels=_int_env("PROTOLABEL_MAX_IMAGE_MEGAPIXELS", 50) * 1_000_000,
            max_zip_entries=_int_env("PROTOLABEL_MAX_ZIP_ENTRIES", 100_000),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for an in-memory or non-SQLite database."""
        if not self.is_sqlite:
            return None
        path = self.db_url.split(":///", 1)[1] if ":///" in self.db_url else ""
        path = path.split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path)

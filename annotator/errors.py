"""One exception tree for everything protolabel tells a user.

Every error a person can cause carries a one-line message that names the file, row, column or
value at fault; the CLI prints it and exits with status 2, the app shows it, and nothing is written.
"""

from __future__ import annotations


class ProtolabelError(Exception):
    """Base of every error meant for the user (exit code 2 in the CLI)."""


class ImportFormatError(ProtolabelError):
    """The input file or folder cannot be imported as given."""


class ProjectExistsError(ProtolabelError):
    """A project with that name already exists."""


class ProjectNotFoundError(ProtolabelError):
    """No project with that name."""


class LabelError(ProtolabelError):
    """A label is outside the project's label set, or the label set itself is invalid."""


class ExportError(ProtolabelError):
    """The export cannot be written as asked."""


class EmptyPoolError(ProtolabelError):
    """There is nothing left to select from."""


class DatabaseError(ProtolabelError):
    """The database cannot be opened or upgraded."""


class DatabaseUnavailableError(DatabaseError):
    """The database cannot take this action now (locked by another process, disk full): a
    passing condition. Nothing was written; the caller keeps what it was given and retries."""


class FeaturizerError(ProtolabelError):
    """The featurizer cannot be used as asked: unknown, not for this kind of data, its extra
    is not installed, or its saved state does not fit the data."""


class PermissionDeniedError(ProtolabelError):
    """The person may not do this: an authenticated user's role in the project does not allow
    the action, or a reviewer action without a name."""


class NotServedError(ProtolabelError):
    """A decision on an item that was never served to the annotator who made it."""

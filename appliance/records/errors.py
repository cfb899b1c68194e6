"""Typed errors of the record layer, each with a stable code and a fix."""

from __future__ import annotations

from appliance.errors import ApplianceError


class RecordsError(ApplianceError):
    code = "db-error"


class WrongKeyError(RecordsError):
    code = "db-wrong-key"


class DatabaseInUseError(RecordsError):
    code = "db-in-use"


class IntegrityError_(RecordsError):
    code = "db-integrity"


class SchemaError(RecordsError):
    code = "db-schema"


class BackupError(RecordsError):
    code = "db-backup"


class SlotTakenError(RecordsError):
    code = "slot-taken"


class NotFoundError(RecordsError):
    code = "db-not-found"


class ConflictError(RecordsError):
    """The change does not apply to the record's current state (e.g. already resolved)."""

    code = "db-conflict"

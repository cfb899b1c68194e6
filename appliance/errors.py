"""Typed errors with stable codes: what went wrong, where, and how to fix it."""

from __future__ import annotations


class ApplianceError(Exception):
    """Base error. `code` is stable (logs, tests); `fix` tells the reader what to do."""

    code = "appliance-error"

    def __init__(self, message: str, *, fix: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class ConfigError(ApplianceError):
    code = "config-invalid"


class ModelError(ApplianceError):
    code = "model-invalid"

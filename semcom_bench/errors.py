"""Errors that reach the user: each says what went wrong and what to do about it."""

from __future__ import annotations


class SemcomError(Exception):
    """Base of every error the CLI reports as a message instead of a traceback.

    ``hint`` is the action that fixes it, printed on its own line.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\nHint: {self.hint}" if self.hint else text


class DatasetNotFoundError(SemcomError):
    """The dataset root does not exist or holds none of the expected folders."""


class DatasetLayoutError(SemcomError):
    """The dataset root exists but its files do not follow the expected layout."""


class AnnotationMissingError(SemcomError):
    """An image has no matching annotation file."""


class CorruptFileError(SemcomError):
    """A file cannot be decoded (truncated or corrupt image, invalid JSON)."""


class UnknownClassError(SemcomError):
    """An annotation names a class the label table does not know."""


class ShapeMismatchError(SemcomError):
    """An image and its label maps disagree in size, or a tensor has the wrong shape."""


class SchemaError(SemcomError):
    """A table does not match its schema or was written by an incompatible schema version."""

"""Errors a user can act on: each carries one clear line and the exit code the CLI should use."""
from __future__ import annotations


class EdgesegError(Exception):
    """A problem with the user's input or environment, reported as one line (no traceback by default)."""

    exit_code: int = 1


class UsageError(EdgesegError):
    """Bad arguments, missing/unreadable files, unknown names: exit code 2, like other CLI usage errors."""

    exit_code = 2


class OptionError(UsageError, ValueError):
    """A value outside what an option or a file's field may be (also a ValueError, for API callers)."""


class NotAvailableError(EdgesegError):
    """A feature or engine that is not installed here (or not delivered yet); the message says what to do."""

    exit_code = 2


class ModelFormatError(UsageError):
    """A model file that is corrupt, of another task, or otherwise not loadable."""


class UnsafeFileError(ModelFormatError):
    """A file that would run code (or reference objects we do not allow) if loaded naively."""


class OutputError(EdgesegError):
    """An output could not be written (disk full, read-only or missing directory); nothing partial is left at
    the output's path."""

"""Exceptions that carry a message for the user."""


class IrisfwError(Exception):
    """An error the user can fix. The CLI prints its message and exits with 2."""


class DataError(IrisfwError):
    """The data source is missing, unreadable or unsuitable for classification."""


class SpecError(IrisfwError):
    """A model spec or backend option is invalid or not supported by a backend."""


class BackendError(IrisfwError):
    """A backend is unknown, not loadable or registered twice."""

"""Domain errors the services raise; views and the API turn each into one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors a service raises on purpose."""


class TransitionForbidden(DomainError):
    """The caller may not take this step on this case (HTTP 403)."""


class TransitionNotAllowed(DomainError):
    """This step does not exist from the case's current state (HTTP 409)."""

    def __init__(self, name: str, state: str) -> None:
        super().__init__(f"'{name}' is not possible while the case is {state}")
        self.name = name
        self.state = state


class InvalidInput(DomainError):
    """Input that fails validation, field by field (HTTP 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = errors

"""The error type services raise for a refused action; the edges map it to a 4xx.

Each app subclasses it once (``TenancyError``, later ``LeadError``…). ``fields`` maps a
field name to its messages, the same shape as a form's or a serializer's errors.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = str(message)
        self.fields = fields or {}
        if code:
            self.code = code
        if status:
            self.status = status


class NotFoundError(ServiceError):
    status = 404
    code = "not_found"

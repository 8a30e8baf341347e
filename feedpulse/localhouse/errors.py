"""ClickHouse-style errors: the code, the message text and the HTTP status the server would use."""

from __future__ import annotations

# HTTP status codes ClickHouse's HTTP handler uses for some exception codes; everything else is 500.
_HTTP_STATUS = {
    36: 400,  # BAD_ARGUMENTS
    60: 404,  # UNKNOWN_TABLE
    62: 400,  # SYNTAX_ERROR
    73: 400,  # UNKNOWN_FORMAT
    81: 404,  # UNKNOWN_DATABASE
    115: 400,  # UNKNOWN_SETTING
    164: 403,  # READONLY
    192: 403,  # UNKNOWN_USER
    193: 403,  # WRONG_PASSWORD
    194: 403,  # REQUIRED_PASSWORD
    372: 404,  # SESSION_NOT_FOUND
    373: 400,  # SESSION_IS_LOCKED
    497: 403,  # ACCESS_DENIED
    516: 403,  # AUTHENTICATION_FAILED
}


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it: ``Code: N. DB::Exception: …``."""

    def __init__(self, code: int, message: str, *, raw: bool = False) -> None:
        self.code = code
        self.text = message if raw else f"Code: {code}. DB::Exception: {message}"
        super().__init__(self.text)

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)

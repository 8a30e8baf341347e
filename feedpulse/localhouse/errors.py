"""ClickHouse-style errors: the code, the message text and the HTTP status the server would use."""

from __future__ import annotations

# ClickHouse's exception code → HTTP status (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp);
# every other code is 500. Names are kept so a test can check each number against the engine's
# own errorCodeToName().
HTTP_STATUS_BY_CODE: dict[int, tuple[str, int]] = {
    194: ("REQUIRED_PASSWORD", 401),
    192: ("UNKNOWN_USER", 403),
    193: ("WRONG_PASSWORD", 403),
    516: ("AUTHENTICATION_FAILED", 403),
    512: ("SET_NON_GRANTED_ROLE", 403),
    497: ("ACCESS_DENIED", 403),
    36: ("BAD_ARGUMENTS", 400),
    427: ("CANNOT_COMPILE_REGEXP", 400),
    6: ("CANNOT_PARSE_TEXT", 400),
    25: ("CANNOT_PARSE_ESCAPE_SEQUENCE", 400),
    26: ("CANNOT_PARSE_QUOTED_STRING", 400),
    38: ("CANNOT_PARSE_DATE", 400),
    41: ("CANNOT_PARSE_DATETIME", 400),
    72: ("CANNOT_PARSE_NUMBER", 400),
    441: ("CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", 400),
    675: ("CANNOT_PARSE_IPV4", 400),
    676: ("CANNOT_PARSE_IPV6", 400),
    27: ("CANNOT_PARSE_INPUT_ASSERTION_FAILED", 400),
    376: ("CANNOT_PARSE_UUID", 400),
    15: ("DUPLICATE_COLUMN", 400),
    44: ("ILLEGAL_COLUMN", 400),
    37: ("UNKNOWN_ELEMENT_IN_AST", 400),
    123: ("UNKNOWN_TYPE_OF_AST_NODE", 400),
    8: ("THERE_IS_NO_COLUMN", 400),
    167: ("TOO_DEEP_AST", 400),
    168: ("TOO_BIG_AST", 400),
    223: ("UNEXPECTED_AST_STRUCTURE", 400),
    62: ("SYNTAX_ERROR", 400),
    117: ("INCORRECT_DATA", 400),
    53: ("TYPE_MISMATCH", 400),
    321: ("VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", 400),
    60: ("UNKNOWN_TABLE", 404),
    46: ("UNKNOWN_FUNCTION", 404),
    47: ("UNKNOWN_IDENTIFIER", 404),
    50: ("UNKNOWN_TYPE", 404),
    56: ("UNKNOWN_STORAGE", 404),
    81: ("UNKNOWN_DATABASE", 404),
    115: ("UNKNOWN_SETTING", 404),
    152: ("UNKNOWN_DIRECTION_OF_SORTING", 404),
    63: ("UNKNOWN_AGGREGATE_FUNCTION", 404),
    73: ("UNKNOWN_FORMAT", 404),
    336: ("UNKNOWN_DATABASE_ENGINE", 404),
    78: ("UNKNOWN_TYPE_OF_QUERY", 404),
    511: ("UNKNOWN_ROLE", 404),
    229: ("QUERY_IS_TOO_LARGE", 413),
    48: ("NOT_IMPLEMENTED", 501),
    209: ("SOCKET_TIMEOUT", 503),
    76: ("CANNOT_OPEN_FILE", 503),
    381: ("HTTP_LENGTH_REQUIRED", 411),
    159: ("TIMEOUT_EXCEEDED", 408),
    439: ("CANNOT_SCHEDULE_TASK", 503),
    779: ("UNSUPPORTED_MEDIA_TYPE", 415),
}


def http_status(code: int) -> int:
    entry = HTTP_STATUS_BY_CODE.get(code)
    return entry[1] if entry else 500


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it: ``Code: N. DB::Exception: …``."""

    def __init__(self, code: int, message: str, *, raw: bool = False) -> None:
        self.code = code
        self.text = message if raw else f"Code: {code}. DB::Exception: {message}"
        super().__init__(self.text)

    @property
    def http_status(self) -> int:
        return http_status(self.code)

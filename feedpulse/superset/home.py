"""Where the local Superset lives and how feedpulse reaches it.

Superset runs from its own virtualenv (its pins — SQLAlchemy 1.4, pandas 2.1, numpy < 2.3 — cannot
share feedpulse's), found at ``FEEDPULSE_SUPERSET_VENV`` or the repository's ``.venv-superset``.
Its state (metadata database, config with the SECRET_KEY, admin password, logs) lives under
``$FEEDPULSE_HOME/superset/``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from feedpulse.config import environment, feedpulse_home

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 8088
DEFAULT_ADMIN = "admin"
SPEC_DIR = REPO_ROOT / "dashboards" / "superset"


def superset_home() -> Path:
    path = feedpulse_home() / "superset"
    path.mkdir(parents=True, exist_ok=True)
    return path


def venv() -> Path:
    chosen = environment().get("FEEDPULSE_SUPERSET_VENV")
    return Path(chosen) if chosen else REPO_ROOT / ".venv-superset"


def superset_bin() -> Path:
    return venv() / "bin" / "superset"


def installed() -> bool:
    """True when the Superset venv has its entry point (``make superset`` made it)."""
    return superset_bin().exists()


def config_path() -> Path:
    return superset_home() / "superset_config.py"


def port() -> int:
    return int(environment().get("FEEDPULSE_SUPERSET_PORT") or DEFAULT_PORT)


def base_url() -> str:
    return f"http://127.0.0.1:{port()}"


@dataclass(frozen=True)
class Admin:
    username: str
    password: str
    generated: bool  # True when the password was made now and must be shown once


def _password_file() -> Path:
    return superset_home() / "admin-password"


def admin() -> Admin:
    """The admin's credentials: FEEDPULSE_SUPERSET_ADMIN / FEEDPULSE_SUPERSET_PASSWORD, else a random
    password generated once and kept in a 0600 file (there is no default password)."""
    env = environment()
    username = env.get("FEEDPULSE_SUPERSET_ADMIN") or DEFAULT_ADMIN
    if env.get("FEEDPULSE_SUPERSET_PASSWORD"):
        return Admin(username, env["FEEDPULSE_SUPERSET_PASSWORD"], generated=False)
    path = _password_file()
    if path.exists():
        return Admin(username, path.read_text().strip(), generated=False)
    password = secrets.token_urlsafe(18)
    _write_private(path, password + "\n")
    return Admin(username, password, generated=True)


def _write_private(path: Path, text: str) -> None:
    """Create a file only its owner can read, without a window where it is world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


CONFIG_TEMPLATE = """\
# Written once by `feedpulse superset setup`; the SECRET_KEY encrypts the stored database
# passwords, so it must not change while {db} exists.
SECRET_KEY = {secret!r}
SQLALCHEMY_DATABASE_URI = {uri!r}
DATA_DIR = {data!r}
FEATURE_FLAGS = {{"DASHBOARD_NATIVE_FILTERS": True}}
# Only a loopback server for one analyst: no Celery, no results backend, the simple cache.
CACHE_CONFIG = {{"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 60}}
DATA_CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
"""


def write_config() -> Path:
    """Write superset_config.py with a SECRET_KEY generated once; an existing file is kept."""
    path = config_path()
    if path.exists():
        return path
    home = superset_home()
    text = CONFIG_TEMPLATE.format(
        secret=secrets.token_urlsafe(48),
        uri=f"sqlite:///{home / 'superset.db'}",
        db=home / "superset.db",
        data=str(home / "data"),
    )
    _write_private(path, text)
    return path


def superset_env() -> dict[str, str]:
    """The environment Superset's commands and server run with."""
    env = dict(environment())
    env.update(
        SUPERSET_CONFIG_PATH=str(config_path()),
        SUPERSET_HOME=str(superset_home()),
        FLASK_APP="superset",
        PYTHONUNBUFFERED="1",
        TZ=env.get("FEEDPULSE_TIMEZONE") or "Europe/Moscow",
    )
    return env

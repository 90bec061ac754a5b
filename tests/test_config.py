from __future__ import annotations

import pytest

from recommender.config import Settings, get_settings
from recommender.config_errors import InvalidSettingsError
from tests.conftest import REPO_ROOT


def test_every_setting_is_documented_in_the_readme_with_its_default() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        variable = name.upper()
        row = next(
            (line for line in readme.splitlines() if line.startswith(f"| `{variable}`")), None
        )
        assert row is not None, f"{variable} is not documented in README.md"
        default = field.default
        shown = "unset" if default is None else "empty" if default == "" else f"`{default}`"
        assert shown in row, f"README.md gives {variable} a default other than {shown}"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://x@y/z")
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("ENGINE_FALLBACK", "EASE, popularity")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql+psycopg://x@y/z"
    assert settings.redis_url is None
    assert settings.fallback_order == ["ease", "popularity"]


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "0")
    with pytest.raises(ValueError, match="port"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("written", "level"),
    [
        ("WARNING", "warning"),
        ("warn", "warning"),
        ("WARN", "warning"),
        ("Info", "info"),
        (" debug ", "debug"),
        ("FATAL", "critical"),
    ],
)
def test_log_levels_are_read_as_people_write_them(
    monkeypatch: pytest.MonkeyPatch, written: str, level: str
) -> None:
    monkeypatch.setenv("LOG_LEVEL", written)
    monkeypatch.setenv("LOG_FORMAT", "TEXT")
    settings = Settings(_env_file=None)
    assert settings.log_level == level
    assert settings.log_format == "text"


def test_every_refused_setting_is_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT / "tests")  # no .env here
    monkeypatch.setenv("LOG_LEVEL", "loud")
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("ALLOW_ANONYMOUS", "perhaps")
    monkeypatch.setenv("USER_CACHE_SIZE", "-1")
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidSettingsError) as refused:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(refused.value)
    assert "\n" not in message
    assert "LOG_LEVEL='loud': expected 'debug', 'info', 'warning', 'error' or 'critical'" in message
    assert "warn means warning" in message
    assert "PORT='0': expected greater than or equal to 1" in message
    assert "ALLOW_ANONYMOUS='perhaps': expected true or false" in message
    assert "USER_CACHE_SIZE='-1': expected greater than or equal to 0" in message


def test_secrets_are_never_repeated_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT / "tests")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:hunter2hunter2@db/x")
    monkeypatch.setenv("SENTRY_DSN", "https://hunter2hunter2@sentry.example/1")
    monkeypatch.setenv("PORT", "99999")
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2hunter2@redis:6379/0")
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidSettingsError) as refused:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert "PORT=99999" in str(refused.value) or "PORT='99999'" in str(refused.value)
    assert "hunter2" not in str(refused.value)

from __future__ import annotations

import pytest

from recommender.config import Settings
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

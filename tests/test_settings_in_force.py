"""What the operators' console shows of the settings (`chat.core.settings_in_force`):
every setting, and no secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.core.config import Config
from chat.core.settings import SETTINGS
from chat.core.settings_in_force import MASK, settings_in_force, shown_value

pytestmark = pytest.mark.unit


def _config(tmp_path: Path, **changes: object) -> Config:
    return Config(data_dir=tmp_path).replace(**changes)


def test_every_setting_is_listed_by_its_environment_variable(tmp_path: Path) -> None:
    shown = settings_in_force(_config(tmp_path))
    assert set(shown) == {setting.env for setting in SETTINGS}


def test_a_set_secret_is_only_said_to_be_set(tmp_path: Path) -> None:
    secret = "s" * 40
    shown = settings_in_force(_config(tmp_path, jwt_secret=secret, metrics_token="t" * 32))
    assert (shown["CHAT_JWT_SECRET"], shown["CHAT_METRICS_TOKEN"]) == (MASK, MASK)
    assert secret not in repr(shown)


def test_a_setting_about_a_secret_but_not_one_is_shown(tmp_path: Path) -> None:
    shown = settings_in_force(_config(tmp_path, token_ttl=600))
    assert shown["CHAT_TOKEN_TTL"] == 600


def test_a_secret_inside_a_settings_value_is_masked() -> None:
    providers = [{"Name": "corp", "ClientID": "chat", "ClientSecret": "shh"}]
    assert shown_value(providers) == [{"Name": "corp", "ClientID": "chat", "ClientSecret": MASK}]


def test_an_unset_secret_is_null(tmp_path: Path) -> None:
    assert settings_in_force(_config(tmp_path, jwt_secret=None))["CHAT_JWT_SECRET"] is None


def test_a_urls_password_is_left_out_and_its_user_kept(tmp_path: Path) -> None:
    url = "postgresql://chat:hunter2@db.example:5432/chat"
    shown = settings_in_force(_config(tmp_path, database_url=url))
    assert shown["CHAT_DATABASE_URL"] == "postgresql://chat:***@db.example:5432/chat"
    assert "hunter2" not in repr(shown)


def test_values_are_json(tmp_path: Path) -> None:
    shown = settings_in_force(_config(tmp_path))
    assert shown["CHAT_DATA_DIR"] == str(tmp_path)
    assert all(
        value is None or isinstance(value, str | int | float | bool | list | dict)
        for value in shown.values()
    )

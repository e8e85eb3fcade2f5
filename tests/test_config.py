"""Configuration: flags over environment over defaults, clear errors, documented."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from chat.core.config import SETTINGS, Config, ConfigError, add_flags, load


def _flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return parser.parse_args(argv)


def test_defaults_need_no_configuration() -> None:
    config = load(environ={}, flags=_flags())
    assert config == Config()
    assert (config.host, config.port, config.database_url) == ("127.0.0.1", 9000, None)
    assert config.bcrypt_cost == 12 and config.token_ttl == 24 * 3600
    assert config.sqlite_path == Path("data/chat.sqlite3")


def test_environment_variables_set_values() -> None:
    config = load(
        environ={
            "CHAT_PORT": "9100",
            "CHAT_BCRYPT_COST": "10",
            "CHAT_DATA_DIR": "/srv/chat",
            "CHAT_LOG_LEVEL": "debug",
        }
    )
    assert (config.port, config.bcrypt_cost, config.log_level) == (9100, 10, "DEBUG")
    assert config.data_dir == Path("/srv/chat")


def test_flags_win_over_the_environment() -> None:
    config = load(
        environ={"CHAT_PORT": "9100", "CHAT_HOST": "0.0.0.0"}, flags=_flags("--port", "9200")
    )
    assert (config.host, config.port) == ("0.0.0.0", 9200)


@pytest.mark.parametrize(
    "environ,problem",
    [
        ({"CHAT_PORT": "70000"}, "CHAT_PORT"),
        ({"CHAT_BCRYPT_COST": "3"}, "CHAT_BCRYPT_COST"),
        ({"CHAT_TOKEN_TTL": "-5"}, "CHAT_TOKEN_TTL"),
        ({"CHAT_JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"CHAT_DATABASE_URL": "mysql://x"}, "CHAT_DATABASE_URL"),
        ({"CHAT_LOG_LEVEL": "loud"}, "CHAT_LOG_LEVEL"),
        ({"CHAT_MAX_TEXT": "100000"}, "must not exceed CHAT_MAX_FRAME"),
        ({"CHAT_ALLOWED_ORIGINS": "chat.example.com"}, "CHAT_ALLOWED_ORIGINS"),
        ({"CHAT_DRAIN_SECONDS": "-1"}, "CHAT_DRAIN_SECONDS.*0 or more"),
        ({"CHAT_DRAIN_SECONDS": "soon"}, "CHAT_DRAIN_SECONDS.*0 or more"),
        ({"CHAT_GATHER_MS": "-1"}, "CHAT_GATHER_MS.*from 0 to 100"),
        ({"CHAT_GATHER_MS": "101"}, "CHAT_GATHER_MS.*from 0 to 100"),
        ({"CHAT_GATHER_MS": "2.5"}, "CHAT_GATHER_MS.*from 0 to 100"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(environ: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load(environ=environ)


def test_the_secret_is_never_shown_in_repr() -> None:
    assert "super" not in repr(Config(jwt_secret="super" * 10))


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f"`{setting.env}`" in readme, f"{setting.env} is missing from README.md"
        if setting.flag:
            assert f"`{setting.flag}`" in readme, f"{setting.flag} is missing from README.md"


def test_allowed_origins_are_a_normalised_list() -> None:
    config = load(environ={"CHAT_ALLOWED_ORIGINS": "https://A.example/, http://b.example:8080"})
    assert config.allowed_origins == ("https://a.example", "http://b.example:8080")


def test_the_drain_is_off_by_default_and_takes_seconds() -> None:
    assert load(environ={}).drain_seconds == 0
    assert load(environ={"CHAT_DRAIN_SECONDS": "12.5"}).drain_seconds == 12.5

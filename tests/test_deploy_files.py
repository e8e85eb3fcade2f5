"""The files in deploy/ are valid for the programs that read them (`nginx -t`,
`systemd-analyze verify`) and agree with each other on the drain's timing.

tests/test_nginx.py and tests/test_rolling_restart.py run the nginx files for real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cluster import NGINX_SITE, ROOT, nginx_main, require_program, upstream_keepalive_s

from chat.core.config import Config
from chat.server.drain import LAST_REQUESTS_S

SYSTEMD = ROOT / "deploy" / "systemd"
#: The units, and the name each is verified under (a template needs an instance).
UNITS = {"chat@.service": "chat@9001.service", "chat-workers.service": "chat-workers.service"}
#: Where the units expect the `chat` command (docs/DEPLOYMENT.md, "systemd").
SHIPPED_CHAT = "/opt/chat/venv/bin/chat"


def test_the_shipped_nginx_conf_and_site_pass_nginx_t(tmp_path: Path) -> None:
    nginx = require_program("nginx")
    # The files as shipped, but for the paths nginx writes to (so that this runs as any
    # user): the main configuration's, and the site's access log.
    site = NGINX_SITE.read_text()
    assert site.count("/var/log/nginx/access.log") == 1
    (tmp_path / "chat.conf").write_text(
        site.replace("/var/log/nginx/access.log", str(tmp_path / "access.log"))
    )
    (tmp_path / "nginx.conf").write_text(nginx_main(tmp_path, tmp_path / "chat.conf"))
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_the_nginx_files_log_no_query_strings() -> None:
    main = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    site = NGINX_SITE.read_text()
    for text in (main, site):
        formats = re.findall(r"log_format\s+\S+\s+((?:'[^']*'\s*)+);", text)
        assert formats, "no log_format"
        for format_ in formats:
            assert "$request " not in format_ and "$request_uri" not in format_
            assert "$uri" in format_
            assert "$http_referer" not in format_  # only without its query string


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    systemd_analyze = require_program("systemd-analyze")
    # verify checks that ExecStart's program exists: the `chat` this test runs with.
    chat = _chat_command()
    for unit, name in UNITS.items():
        text = (SYSTEMD / unit).read_text()
        assert SHIPPED_CHAT in text
        (tmp_path / unit).write_text(text.replace(SHIPPED_CHAT, str(chat)))
        verified = subprocess.run(
            [systemd_analyze, "verify", str(tmp_path / name)],
            capture_output=True,
            text=True,
        )
        output = verified.stdout + verified.stderr
        about_ours = [line for line in output.splitlines() if "chat" in line]
        assert verified.returncode == 0 and not about_ours, output


def _chat_command() -> Path:
    """The installed `chat` command: next to this Python (its venv), or on the PATH."""
    beside = Path(sys.executable).parent / "chat"
    found = beside if beside.exists() else shutil.which("chat")
    if found is None:
        pytest.fail("no `chat` command installed: pip install the project")
    return Path(found)


def _unit_settings(unit: str) -> dict[str, str]:
    settings = {}
    for line in (SYSTEMD / unit).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            if key == "Environment":
                name, _, value = value.partition("=")
                settings[name] = value
            else:
                settings[key] = value
    return settings


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_each_unit_gives_the_drain_and_the_shutdown_time_to_finish(unit: str) -> None:
    settings = _unit_settings(unit)
    drain = float(settings["CHAT_DRAIN_SECONDS"])
    # Past the time nginx keeps an idle connection to an instance: by the drain's end each
    # one was either used (and closed by the instance's answer) or closed by nginx.
    assert drain > upstream_keepalive_s()
    defaults = Config()
    needed = drain + LAST_REQUESTS_S + defaults.shutdown_timeout + defaults.close_timeout
    assert float(settings["TimeoutStopSec"]) > needed
    assert settings["KillSignal"] == "SIGTERM"
    # Only the main process is signalled: a worker signalled twice stops at once.
    assert settings["KillMode"] == "mixed"
    for hardening in ("NoNewPrivileges", "ProtectSystem", "StateDirectory", "EnvironmentFile"):
        assert hardening in settings
    # nginx keeps every instance in rotation and retries what a draining one refuses
    # (deploy/nginx/chat.conf): a remembered failure kept restarted instances out.
    servers = re.findall(r"^    server \S+ (.*);$", NGINX_SITE.read_text(), flags=re.M)
    assert servers and all(options == "max_fails=0" for options in servers)
    assert "proxy_next_upstream error timeout http_503;" in NGINX_SITE.read_text()


# -- files: every shipped deployment keeps them ------------------------------------------

#: The shared files directory docs/DEPLOYMENT.md recommends for several instances.
RECOMMENDED_FILES_DIR = "/srv/chat-files"


def test_the_docs_files_directories_are_ones_the_units_may_write() -> None:
    """ProtectSystem=strict makes everything read-only but the state directory and what
    ReadWritePaths= lists: every CHAT_FILES_URL directory the docs name for a machine must
    be in one of them, in both units (the shared one the docs recommend in
    ReadWritePaths=)."""
    docs = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    # But the container's sections: their paths are inside the image.
    sections = re.split(r"^## ", docs, flags=re.M)
    outside = "".join(part for part in sections if not part.startswith(("Container", "Compose")))
    named = set(re.findall(r"CHAT_FILES_URL=(/[\w/.-]*\w)", outside))
    assert RECOMMENDED_FILES_DIR in named
    for unit in UNITS:
        settings = _unit_settings(unit)
        assert settings["ProtectSystem"] == "strict"
        writable = [Path("/var/lib") / settings["StateDirectory"]] + [
            Path(path.removeprefix("-")) for path in settings["ReadWritePaths"].split()
        ]
        for directory in named:
            assert any(Path(directory).is_relative_to(place) for place in writable), (
                f"{unit} may not write {directory}: ReadWritePaths={settings['ReadWritePaths']}"
            )


COMPOSE = ROOT / "deploy" / "compose.yaml"
INSTANCES = ("chat1", "chat2", "chat3")


def _compose() -> dict:
    loaded: dict = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_the_compose_instances_keep_files_in_one_named_volume() -> None:
    """Each instance mounts the same named volume (it survives `down`) where its
    CHAT_FILES_URL points; the image makes that directory chat's."""
    compose = _compose()
    places = set()
    for name in INSTANCES:
        service = compose["services"][name]
        url = service["environment"]["CHAT_FILES_URL"]
        mounts = dict(volume.split(":", 1) for volume in service["volumes"])
        assert list(mounts.values()) == [url], f"{name} mounts {mounts}, files at {url}"
        places.add((next(iter(mounts)), url))
    assert len(places) == 1, places
    [(volume, url)] = places
    assert volume in compose["volumes"] and not volume.startswith(("/", "."))
    containerfile = (ROOT / "Containerfile").read_text()
    assert re.search(rf"install -d -m 0700 -o chat -g chat [^\n]*{re.escape(url)}", containerfile)


def test_the_compose_instances_drain_within_their_grace_period() -> None:
    compose = _compose()
    defaults = Config()
    for name in INSTANCES:
        service = compose["services"][name]
        drain_setting = str(service["environment"]["CHAT_DRAIN_SECONDS"])
        found = re.fullmatch(r"\$\{CHAT_DRAIN_SECONDS:-(\d+)\}", drain_setting)
        drain = float(found.group(1) if found else drain_setting)
        assert drain > upstream_keepalive_s()
        needed = drain + LAST_REQUESTS_S + defaults.shutdown_timeout + defaults.close_timeout
        grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert grace is not None and float(grace.group(1)) > needed
        assert service["stop_signal"] == "SIGTERM"


def test_the_image_installs_the_redis_and_s3_extras() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installed = re.findall(
        r'pip install [^\n]*"\.\[([\w,]+)\]"', (ROOT / "Containerfile").read_text()
    )
    assert len(installed) == 1
    assert set(installed[0].split(",")) == {"redis", "s3"} and {"redis", "s3"} <= set(extras)

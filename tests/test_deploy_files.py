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

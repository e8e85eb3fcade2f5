"""Trusted networks (CHAT_TRUSTED_NETWORKS): the setting's CIDRs and their errors, which
client keys fall in them, how the limits count connections and logins there (by user, by
address and account, under the network's ceiling), and logins through a real server on
both backends. (A rolling restart of two instances: test_cluster_trusted_networks.py.)
chat/core/trusted_networks.py, chat/app/limits/rate_limits.py."""

from __future__ import annotations

import httpx
import pytest
import trio
from support import account, http_client, raw_upgrade, start_server, status_of
from test_rate_limits import assert_refused, limited

from chat.app.limits.rate_limits import RateLimits
from chat.core.config import Config, ConfigError, load
from chat.core.errors import RateLimited
from chat.core.trusted_networks import MAX_TRUSTED_NETWORKS, TrustedNetworks, parse_network
from chat.net.connection_cap import ConnectionCap

OFFICE = "203.0.113.7"  # one NAT address (RFC 5737's documentation range)
ELSEWHERE = "198.51.100.9"


# --- the setting -------------------------------------------------------------------------


def test_the_setting_takes_ipv4_and_ipv6_networks_and_bare_addresses() -> None:
    config = load(environ={"CHAT_TRUSTED_NETWORKS": " 10.20.0.0/16, 2001:db8:5::/48,203.0.113.7"})
    assert config.trusted_networks == ("10.20.0.0/16", "2001:db8:5::/48", "203.0.113.7/32")


def test_the_setting_is_unset_by_default_with_a_multiplier_of_20() -> None:
    config = load(environ={})
    assert (config.trusted_networks, config.trusted_network_multiplier) == ((), 20)


@pytest.mark.parametrize(
    "value,why",
    [
        ("office", "'office' is not an IP network like 10.20.0.0/16"),
        ("10.20.1.7/16", "'10.20.1.7/16' has host bits set: did you mean 10.20.0.0/16?"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP network"),
        ("0.0.0.0/0", "0.0.0.0/0 is every address: set CHAT_RATE_LIMITS=off instead"),
        ("::/0", "::/0 is every address"),
    ],
)
def test_a_bad_network_is_refused_naming_the_setting_and_why(value: str, why: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(environ={"CHAT_TRUSTED_NETWORKS": value})
    message = str(refused.value)
    assert message.startswith("CHAT_TRUSTED_NETWORKS: the trusted networks must be"), message
    assert why in message


def test_more_networks_than_the_bound_are_refused() -> None:
    many = ",".join(f"10.{n}.0.0/16" for n in range(MAX_TRUSTED_NETWORKS + 1))
    with pytest.raises(ConfigError, match=f"at most {MAX_TRUSTED_NETWORKS} networks"):
        load(environ={"CHAT_TRUSTED_NETWORKS": many})


def test_an_ipv6_network_narrower_than_the_client_prefix_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"2001:db8::/96 is narrower than the /64"):
        load(environ={"CHAT_TRUSTED_NETWORKS": "2001:db8::/96"})
    config = load(environ={"CHAT_TRUSTED_NETWORKS": "2001:db8::/96", "CHAT_IPV6_PREFIX": "128"})
    assert config.trusted_networks == ("2001:db8::/96",)


@pytest.mark.parametrize("value", ["0", "1001", "many"])
def test_a_multiplier_outside_1_to_1000_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="CHAT_TRUSTED_NETWORK_MULTIPLIER"):
        load(environ={"CHAT_TRUSTED_NETWORK_MULTIPLIER": value})


def test_parse_network_reads_a_bare_address_as_its_own_network() -> None:
    assert str(parse_network("2001:db8::7")) == "2001:db8::7/128"


# --- matching ----------------------------------------------------------------------------


def test_a_key_is_matched_to_the_narrowest_trusted_network_it_is_in() -> None:
    networks = TrustedNetworks(["10.0.0.0/8", "10.20.0.0/16", "2001:db8:5::/48"])
    assert networks.network_of("10.20.3.4") == "10.20.0.0/16"
    assert networks.network_of("10.9.3.4") == "10.0.0.0/8"
    # An IPv6 client is keyed by its /64 (chat.core.client_address): that is matched.
    assert networks.network_of("2001:db8:5:7::/64") == "2001:db8:5::/48"


@pytest.mark.parametrize("key", ["11.0.0.1", "2001:db8:6::/64", "unknown", "", "::ffff:10.0.0.1"])
def test_a_key_outside_every_trusted_network_matches_none(key: str) -> None:
    networks = TrustedNetworks(["10.0.0.0/8", "2001:db8:5::/48"])
    assert networks.network_of(key) is None


def test_no_trusted_networks_match_nothing() -> None:
    assert TrustedNetworks().network_of("10.0.0.1") is None
    assert not TrustedNetworks()


# --- how the limits count ----------------------------------------------------------------


def limits(**changes: object) -> RateLimits:
    config = Config(
        rate_limits=True,
        rate_connections="3/minute",
        rate_login="3/minute",
        trusted_networks=(f"{OFFICE}/32",),
        trusted_network_multiplier=4,
    )
    return RateLimits(config.replace(**changes), clock=lambda: 1_000_000.0)


def test_connections_from_a_trusted_address_are_counted_by_user() -> None:
    rate_limits = limits()
    for user_id in (1, 2, 3):
        for _ in range(3):
            assert rate_limits.before_connection(OFFICE) is True
            rate_limits.user_connected(user_id)
    with pytest.raises(RateLimited, match="too many connections by your account"):
        rate_limits.user_connected(1)  # a fourth for one user: its own limit
    assert rate_limits.refusals["user-connections"] == 1


def test_connections_from_a_trusted_network_are_held_to_its_ceiling() -> None:
    rate_limits = limits()
    for _ in range(12):  # 4 times 3 a minute
        rate_limits.before_connection(OFFICE)
    with pytest.raises(RateLimited, match="too many connections from your network"):
        rate_limits.before_connection(OFFICE)
    assert rate_limits.refusals["network-connections"] == 1


def test_connections_from_elsewhere_are_still_counted_by_address() -> None:
    rate_limits = limits()
    for _ in range(3):
        assert rate_limits.before_connection(ELSEWHERE) is False
    with pytest.raises(RateLimited, match="too many connections from your address"):
        rate_limits.before_connection(ELSEWHERE)


def test_logins_from_a_trusted_address_are_counted_by_account() -> None:
    rate_limits = limits()
    for _ in range(3):
        rate_limits.before_login(OFFICE, "name:alice")
        rate_limits.before_login(OFFICE, "name:bob")
    with pytest.raises(RateLimited, match="too many login attempts"):
        rate_limits.before_login(OFFICE, "name:alice")
    rate_limits.before_login(OFFICE, "name:carol")  # alice's typos are hers alone


def test_logins_from_a_trusted_network_are_held_to_its_ceiling() -> None:
    rate_limits = limits()
    for n in range(12):  # 4 times 3 a minute
        rate_limits.before_login(OFFICE, f"name:user-{n}")
    with pytest.raises(RateLimited, match="too many login attempts from your network"):
        rate_limits.before_login(OFFICE, "name:someone-else")


def test_logins_from_elsewhere_are_still_counted_by_address() -> None:
    rate_limits = limits()
    for n in range(3):
        rate_limits.before_login(ELSEWHERE, f"name:user-{n}")
    with pytest.raises(RateLimited, match="too many login attempts from your address"):
        rate_limits.before_login(ELSEWHERE, "name:someone-else")


def test_an_address_in_a_trusted_network_may_hold_more_connections_open() -> None:
    cap = ConnectionCap(2, networks=TrustedNetworks([f"{OFFICE}/32"]), multiplier=3)
    assert all(cap.take(OFFICE) for _ in range(6))
    assert not cap.take(OFFICE)
    assert b"the limit is 6" in cap.refusal(OFFICE)
    assert cap.take(ELSEWHERE) and cap.take(ELSEWHERE) and not cap.take(ELSEWHERE)
    assert b"the limit is 2" in cap.refusal(ELSEWHERE)


# --- through a server --------------------------------------------------------------------


def office_config(config: Config) -> Config:
    """Logins limited to 3 a minute, and the office's address trusted with a ceiling of
    twice that; clients named by the test's X-Forwarded-For (from 127.0.0.1)."""
    return limited(
        config,
        rate_login="3/minute",
        trusted_proxies=("127.0.0.1",),
        trusted_networks=(f"{OFFICE}/32",),
        trusted_network_multiplier=2,
    )


async def log_in(client: httpx.AsyncClient, name: str, address: str) -> httpx.Response:
    return await client.post(
        "/auth",
        json={"name": name, "password": f"{name}-password"},
        headers={"X-Forwarded-For": address},
    )


async def test_people_behind_one_trusted_address_log_in_past_the_per_address_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, office_config(config))
    for name in ("alice", "bob"):
        await account(server, name, f"{name}-password")
    async with http_client(server) as client:
        for _ in range(2):  # 4 logins from one address, past its 3 a minute
            for name in ("alice", "bob"):
                response = await log_in(client, name, OFFICE)
                assert response.status_code == 200, response.text
        # From an untrusted address, the third attempt is the last.
        for name in ("alice", "bob", "alice"):
            assert (await log_in(client, name, ELSEWHERE)).status_code == 200
        assert_refused(await log_in(client, "bob", ELSEWHERE))


async def test_one_persons_attempts_lock_out_neither_the_office_nor_past_its_ceiling(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, office_config(config))
    for name in ("alice", "bob", "carol"):
        await account(server, name, f"{name}-password")
    async with http_client(server) as client:
        for _ in range(3):
            assert (await log_in(client, "alice", OFFICE)).status_code == 200
        assert_refused(await log_in(client, "alice", OFFICE))  # alice's own limit
        assert (await log_in(client, "bob", OFFICE)).status_code == 200
        assert (await log_in(client, "carol", OFFICE)).status_code == 200
        # 6 attempts counted (the refused one too): the network's ceiling, twice 3.
        refused = await log_in(client, "carol", OFFICE)
        assert_refused(refused)
        assert "from your network" in refused.json()["error"]


async def test_websocket_upgrades_from_a_trusted_address_are_counted_by_user(
    nursery: trio.Nursery, config: Config
) -> None:
    config = limited(office_config(config), rate_connections="2/minute")
    server = await start_server(nursery, config.replace(trusted_network_multiplier=10))
    users = [await account(server, name) for name in ("alice", "bob")]
    office = f"X-Forwarded-For: {OFFICE}\r\n"
    for user in users:  # 4 upgrades from one address, 2 a minute each
        for _ in range(2):
            assert status_of(await raw_upgrade(server, f"/ws?token={user.token}", office)) == b"101"
    refused = await raw_upgrade(server, f"/ws?token={users[0].token}", office)
    assert status_of(refused) == b"429", refused  # alice's own limit, not the network's
    assert b"from your network" not in refused

"""Single sign-on on a cluster: a sign-in begun on one instance finishes on another
(its state, nonce and PKCE verifier are in the database, not in an instance's memory)."""

from __future__ import annotations

import json
from pathlib import Path

from cluster import open_cluster
from oidc import Browser, running_provider
from support import throwaway_postgres_schema


async def test_a_sign_in_begun_on_one_instance_finishes_on_another(tmp_path: Path) -> None:
    async with running_provider(tmp_path) as provider, throwaway_postgres_schema() as url:
        # Behind a load balancer both instances have one name and one public URL (the
        # callback's): here 127.0.0.1, on two ports, which cookies do not tell apart.
        settings = {
            "oidc_providers": json.dumps([provider.setting()]),
            "public_url": "http://127.0.0.1:1",
            "host": "127.0.0.1",
        }
        async with (
            open_cluster(tmp_path, url, 2, **settings) as (a, b),
            Browser(a.server) as browser,
        ):
            callback = await browser.at_provider(await browser.begin(), "alice")
            assert callback.startswith("http://127.0.0.1:1/oidc/Test/callback?")
            # The balancer sends the callback to the other instance.
            answer = await browser.callback(callback.replace(":1/", f":{b.port}/", 1))
            assert browser.error(answer) is None, browser.error(answer)
            browser.server = b.server
            assert (await browser.session())["Username"] == "alice"

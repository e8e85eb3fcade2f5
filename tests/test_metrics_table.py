"""docs/DEPLOYMENT.md's metrics table and what ``GET /metrics`` shows agree, both ways:
every metric the server shows is in the table, every metric of the table is shown, with
the labels the table names and, where it lists them, only the values it lists.

The server gets a little traffic first (a request, a message, a history request), so that
labelled families have samples to read their labels from; a family still without any is
checked by name only.
"""

from __future__ import annotations

import trio
from metrics_docs import Row, documented, metrics_table
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from support import http_client, open_clients, register, start_server

from chat.core.config import Config


async def scraped(nursery: trio.Nursery, config: Config) -> dict[str, list[Sample]]:
    """The server's metrics after a little traffic: the name each family has in the
    table (a counter's with ``_total``) -> its samples (``_created`` ones left out)."""
    server = await start_server(nursery, config)
    async with open_clients(server) as clients:
        sender = await clients.talker(token=await register(server, "alice"))
        await sender.say("counted")
        await sender.stored()  # a history request
    async with http_client(server) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    families = {}
    for family in text_string_to_metric_families(response.text):
        if family.name.endswith("_created"):
            continue  # prometheus-client's creation times (the table says so once)
        name = family.name + "_total" if family.type == "counter" else family.name
        families[name] = [s for s in family.samples if not s.name.endswith("_created")]
    return families


def _own_rows(rows: list[Row]) -> list[Row]:
    """The rows of chat's own metrics (not prometheus-client's, named by patterns)."""
    return [row for row in rows if not any("*" in name for name in row.names)]


async def test_every_metric_the_server_shows_is_in_the_docs_table(
    nursery: trio.Nursery, config: Config
) -> None:
    rows = metrics_table()
    families = await scraped(nursery, config)
    assert sorted(name for name in families if documented(name, rows) is None) == []


async def test_every_metric_in_the_docs_table_is_shown_by_the_server(
    nursery: trio.Nursery, config: Config
) -> None:
    families = await scraped(nursery, config)
    table = {name for row in _own_rows(metrics_table()) for name in row.names}
    assert sorted(table - set(families)) == []


async def test_the_docs_table_names_the_labels_each_metric_shows(
    nursery: trio.Nursery, config: Config
) -> None:
    families = await scraped(nursery, config)
    wrong = {}
    for row in _own_rows(metrics_table()):
        for name in row.names:
            samples = families.get(name)
            if not samples:
                continue  # not shown (see the test above), or no sample to tell
            shown = {label for s in samples for label in s.labels if label != "le"}
            if shown != set(row.labels):
                wrong[name] = {"shown": sorted(shown), "table": sorted(row.labels)}
    assert wrong == {}


async def test_each_label_value_shown_is_among_those_the_docs_table_lists(
    nursery: trio.Nursery, config: Config
) -> None:
    families = await scraped(nursery, config)
    unlisted = {}
    for row in _own_rows(metrics_table()):
        for name in row.names:
            for label, listed in row.labels.items():
                if listed is None:
                    continue  # the table describes the values instead of listing them
                shown = {s.labels[label] for s in families.get(name, ()) if label in s.labels}
                if shown - listed:
                    unlisted[f"{name}{{{label}}}"] = sorted(shown - listed)
    assert unlisted == {}

"""The seam with Werkzeug's private `Rule._compile_builder` (chat/http/lazy_rules.py):
a route's URL builders are compiled on first use, and build what Werkzeug's would."""

from __future__ import annotations

from quart_trio import QuartTrio
from werkzeug.routing import Rule

from chat.http.lazy_rules import LazyRule


def _app(rule_class: type[Rule]) -> QuartTrio:
    app = QuartTrio("lazy-rules-test")
    app.url_rule_class = rule_class

    @app.route("/rooms/<int:room_id>/messages")
    async def messages(room_id: int) -> str:
        return str(room_id)

    @app.route("/profile")
    async def profile() -> str:
        return ""

    return app


def _urls(app: QuartTrio) -> list[str]:
    adapter = app.url_map.bind("chat.example")
    return [
        adapter.build("messages", {"room_id": 7}),
        adapter.build("messages", {"room_id": 7, "before": 3}),  # an unknown value: ?before=
        adapter.build("profile", {}),
    ]


def test_the_werkzeug_seam_still_exists() -> None:
    # LazyRule overrides this private method; if Werkzeug renames it, this fails first.
    assert callable(getattr(Rule, "_compile_builder", None))


def test_adding_routes_compiles_no_builder() -> None:
    before = LazyRule.compiled
    _app(LazyRule)
    assert LazyRule.compiled == before


def test_urls_build_as_werkzeug_builds_them() -> None:
    assert _urls(_app(LazyRule)) == _urls(_app(Rule))
    assert _urls(_app(LazyRule))[:2] == ["/rooms/7/messages", "/rooms/7/messages?before=3"]


def test_a_builder_is_compiled_once_and_kept() -> None:
    app = _app(LazyRule)
    before = LazyRule.compiled
    _urls(app)
    first = LazyRule.compiled - before
    _urls(app)
    assert first > 0 and LazyRule.compiled - before == first

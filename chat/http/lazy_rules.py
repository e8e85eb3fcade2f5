"""Routes whose URL builders are compiled when first used, not when the app starts.

Werkzeug compiles two Python functions per route (to build URLs from it: `url_for`)
the moment a route is added, with `ast` and `compile`: for chat's 70-odd routes, about
a tenth of a second of CPU per app. chat never builds a URL from a route, yet every
start paid it: each `--workers` process, and each of the thousands of servers the tests
start. `LazyRule` compiles a builder the first time it is called instead.

This reaches into Werkzeug's private `Rule._compile_builder` (the method `Rule.compile`
calls for both builders), so Werkzeug's range is pinned in pyproject.toml and
tests/test_lazy_rules.py checks the seam: URLs still build, and nothing is compiled
before one is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart.routing import QuartRule

Builder = Callable[..., tuple[str, str]]


class LazyRule(QuartRule):
    """Quart's route, with its URL builders compiled on first use (module docstring)."""

    #: How many builders were compiled, all routes together (the seam test reads it).
    compiled = 0

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        # Werkzeug binds what this returns to the rule (`__get__`) and calls it with the
        # URL's values; the real builder is made, bound and kept on the first call.
        built: Builder | None = None

        def build(rule: LazyRule, **values: Any) -> tuple[str, str]:
            nonlocal built
            if built is None:
                LazyRule.compiled += 1
                built = QuartRule._compile_builder(rule, append_unknown).__get__(rule, None)
            return built(**values)

        return build

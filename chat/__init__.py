"""chat: a real-time chat server built on Trio's structured concurrency.

Start with `chat.server.serving.serve` (the whole task tree in one function) and docs/DESIGN.md.
"""

__version__ = "0.2.0"

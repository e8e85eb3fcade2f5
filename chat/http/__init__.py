"""HTTP: the Quart-Trio app (routes only, no tasks) and the Hypercorn connection server."""

"""Limits: how often a client address, account or user may act (`rate_limits`), and the
fair queue for bcrypt's worker threads (`password_queue`)."""

"""What both backends share, by concern: the SQL they both run (with each backend's
placeholders filled in) and the mapping of result rows to records."""

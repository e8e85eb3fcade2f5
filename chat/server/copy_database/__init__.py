"""``chat copy-database --to postgresql://...``: a SQLite deployment moved to PostgreSQL
(`command`), what is copied (`tables`), the PostgreSQL side (`target`) and the progress
shown (`progress`)."""

"""Persistence: typed tables, database connections and schema migrations."""

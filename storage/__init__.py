"""Persistence: the schema, migrations, the engine and session factory, and repository functions.

Nothing outside this package writes SQL.
"""

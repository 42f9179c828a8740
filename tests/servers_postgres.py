"""Placeholder until the servers_postgres fixtures land."""

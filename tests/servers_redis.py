"""Placeholder until the servers_redis fixtures land."""

"""slotfsm side by side against its baselines: ``python -m benchmarks`` (see README.md)."""

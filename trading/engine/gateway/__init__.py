"""Order-entry clients: turn the engine's order records into venue requests, and the venue's
execution reports back into MarketEvent inputs."""

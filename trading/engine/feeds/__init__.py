"""Market-data feed clients: connect, sync the book, decode into MarketEvent arrays."""

"""The simulated venue: a Binance-protocol server on loopback that replays recorded market
data and matches orders with the hot path's simulated venue. Never imports Django."""

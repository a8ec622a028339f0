"""The Binance protocol as both sides of it speak it: stream names, WebSocket API requests,
signatures, client order ids, order enums and error codes.

Shared by the node's feed and order gateway (trading.engine) and by the simulated venue
(trading.simvenue), so the two cannot drift apart. No Django, no I/O.
Reference: binance-spot-api-docs web-socket-api.md and web-socket-streams.md.
"""

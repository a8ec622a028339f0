"""The trading node runtime (asyncio): feeds, order gateway, journal, control, metrics,
recovery and the node kernel around the compiled engine. Never imports Django: the
`runnode` command loads configuration from the database and hands this package plain values.
"""

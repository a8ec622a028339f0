"""Channels consumers and the live-panel registry; read-only towards trading state."""

"""Compiled hot path: book, signals, strategies, risk, orders, simulated venue, engine.

Contracts live in the .pxd files; no Django, no I/O, no logging, no wall clock in here.
"""

"""Backtesting: the compiled engine with the simulated venue in the loop, over recorded data.

Never imports Django: trading.services stores results; the command and tasks are thin.
"""

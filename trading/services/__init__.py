"""Writes (HackSoft style): every change to trading data goes through a function here."""

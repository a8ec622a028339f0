"""Reads (HackSoft style): queries the views and commands use."""

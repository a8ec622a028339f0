"""Settings profiles: base (shared), local (development, `make run`), production, test."""

"""Plain-Python reference implementations the compiled hot path is tested against."""

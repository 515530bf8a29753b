"""Console entry points (thin: parse config, call the package)."""

"""Hydra plugin: the user's own config folders come first (see scale.cli.config_dirs)."""

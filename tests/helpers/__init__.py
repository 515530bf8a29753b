"""Test harnesses shared by several test folders (not part of the library)."""

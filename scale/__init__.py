"""SCALE: selective test-time compute for math reasoning.

Decompose a problem into sequential sub-problems, rate each one's difficulty, solve easy
ones with fast System 1 decoding and hard ones with deliberate System 2 decoding.
"""

__version__ = "0.1.0"

from scale import resolvers as _resolvers

_resolvers.register()

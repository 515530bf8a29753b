"""SCALE: selective test-time compute for math reasoning.

Decompose a problem into sequential sub-problems, rate each one's difficulty, solve easy
ones with fast System 1 decoding and hard ones with deliberate System 2 decoding.
"""

__version__ = "0.1.0"

try:
    from scale import resolvers as _resolvers
except ImportError:  # no omegaconf (a bare GPU image running benchmarks/gpu_check_difficulty.py): no configs to resolve
    pass
else:
    _resolvers.register()

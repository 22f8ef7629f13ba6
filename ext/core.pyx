# cython: language_level=3
"""lb._core: the data plane. Placeholder until the core lands."""
CORE_VERSION = 0

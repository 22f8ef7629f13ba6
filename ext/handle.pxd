# Core: the Python handle on the shared state and workers (see handle.pyx).

# Per-worker pipe pool (see pipes.pyx).

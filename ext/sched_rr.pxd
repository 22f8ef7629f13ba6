# Round robin: one cursor per service port, shared by every worker.

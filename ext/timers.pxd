# Per-worker timers: a binary min-heap of connections keyed by lb_conn.deadline.

# TCP forwarding state machine (see forward.pyx); the per-connection state is lb_conn.

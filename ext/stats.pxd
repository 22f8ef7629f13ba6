# Counters are plain per-worker slots (lb_epcnt, lb_spcnt, lb_worker); stats.pyx sums them.

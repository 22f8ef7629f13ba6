ctypedef struct lb_affent:
    uint8_t ip[16]          # client IP, IPv4 as ::ffff:a.b.c.d
    uint8_t used
    int64_t ep_id
    uint64_t last_ns

ctypedef struct lb_affinity:
    pthread_mutex_t lock
    lb_affent *slots        # open addressing, linear probing, cap a power of two
    uint32_t cap
    uint32_t count

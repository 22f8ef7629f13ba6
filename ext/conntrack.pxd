# One direction of a connection: bytes read from fd[d], written to fd[1 - d].
ctypedef struct lb_half:
    uint64_t bytes          # delivered to the destination
    int pipe_r              # -1 unless bytes sit in a pipe
    int pipe_w
    char *buf               # copy path buffer, NULL unless bytes sit in it
    uint32_t pending        # bytes in the pipe or buffer
    uint32_t buf_off
    uint8_t eof             # the source sent FIN
    uint8_t shut            # FIN forwarded (shutdown(SHUT_WR) on the destination)
    uint8_t splicing        # a read filled the copy buffer: this direction is bulk, splice it

# Field order packs the small fields into one 8-byte word: an idle connection costs its struct
# (about 300 bytes with the kernel's share), so a byte here is 10 KB per 10,000 connections.
ctypedef struct lb_conn:
    int fd[2]               # 0 client, 1 backend
    uint8_t rd[2]           # edge-triggered readiness: set by events, cleared on EAGAIN
    uint8_t wr[2]
    uint8_t rdhup[2]        # the peer's FIN or an error is pending: read on until 0 or an error
    uint8_t state           # CS_*; CS_FREE: not in use
    uint8_t attempt         # connect attempts made
    uint8_t again           # on the worker's again list
    uint8_t fd_waits        # backoffs after socket() hit EMFILE
    lb_handle h[2]          # the two sides' handles: _conn_of(&c.h[side], side) == c
    int32_t heap_idx        # position in the timer heap, -1 if none
    uint64_t deadline       # CLOCK_MONOTONIC ns
    uint64_t start_ns
    uint64_t last_ns
    lb_half half[2]         # 0: client -> backend (bytes_in), 1: backend -> client (bytes_out)
    int64_t sp_id
    int64_t ep_id
    lb_spstate *sp          # counters; kept alive by cnt.live
    lb_epstate *ep
    lb_conn *next           # free list / dead list
    lb_conn *again_next
    lb_addr client
    lb_addr frontend
    lb_addr backend

# A copy of one entry for connections()
ctypedef struct lb_conncopy:
    lb_addr client
    lb_addr frontend
    lb_addr backend
    uint8_t state
    uint64_t bytes_in
    uint64_t bytes_out
    uint64_t start_ns
    uint64_t last_ns
    int64_t sp_id
    int64_t ep_id

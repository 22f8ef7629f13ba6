# OS declarations used by the core. Everything here is callable without the GIL.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t, uintptr_t, UINT64_MAX
from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from libc.string cimport memset, memcpy, memcmp, strcmp, strlen, strerror


cdef extern from "<errno.h>" nogil:
    int errno
    enum:
        EAGAIN
        EINTR
        EINPROGRESS
        EMFILE
        ENFILE
        ENOBUFS
        ENOMEM
        ECONNABORTED
        ECONNREFUSED
        ECONNRESET
        ETIMEDOUT
        EINVAL
        ENOENT
        EBADF
        ENOTSOCK
        EPIPE


cdef extern from "<sys/epoll.h>" nogil:
    ctypedef union epoll_data_t:
        void *ptr
        int fd
        uint32_t u32
        uint64_t u64

    struct epoll_event:
        uint32_t events
        epoll_data_t data

    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLRDHUP
        EPOLLHUP
        EPOLLERR
        EPOLLET
        EPOLLEXCLUSIVE
        EPOLL_CTL_ADD
        EPOLL_CTL_DEL
        EPOLL_CLOEXEC

    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t

    struct sockaddr:
        sa_family_t sa_family

    struct linger:
        int l_onoff
        int l_linger

    enum:
        AF_INET
        AF_INET6
        SOCK_STREAM
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_ERROR
        SO_LINGER
        SO_TYPE
        SO_ACCEPTCONN
        SHUT_WR
        MSG_NOSIGNAL
        MSG_DONTWAIT

    int socket(int domain, int type, int protocol)
    int accept4(int fd, sockaddr *addr, socklen_t *addrlen, int flags)
    int connect(int fd, const sockaddr *addr, socklen_t addrlen)
    int getsockname(int fd, sockaddr *addr, socklen_t *addrlen)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
    int shutdown(int fd, int how)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)


cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        uint32_t s_addr

    struct in6_addr:
        unsigned char s6_addr[16]

    struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr

    struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        uint32_t sin6_flowinfo
        in6_addr sin6_addr
        uint32_t sin6_scope_id

    enum:
        IPPROTO_TCP
        INET6_ADDRSTRLEN

    uint16_t htons(uint16_t x)
    uint16_t ntohs(uint16_t x)


cdef extern from "<netinet/tcp.h>" nogil:
    enum:
        TCP_NODELAY


cdef extern from "<arpa/inet.h>" nogil:
    const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)
    int inet_pton(int af, const char *src, void *dst)


cdef extern from "<fcntl.h>" nogil:
    enum:
        O_NONBLOCK
        O_CLOEXEC
        F_GETFL
        F_SETFL
        F_SETPIPE_SZ
        SPLICE_F_MOVE
        SPLICE_F_NONBLOCK

    int fcntl(int fd, int cmd, ...)
    ssize_t splice(int fd_in, void *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)


cdef extern from "<unistd.h>" nogil:
    int pipe2(int *fds, int flags)
    int close(int fd)
    ssize_t read(int fd, void *buf, size_t n)
    ssize_t write(int fd, const void *buf, size_t n)


cdef extern from "<sys/eventfd.h>" nogil:
    enum:
        EFD_NONBLOCK
        EFD_CLOEXEC

    int eventfd(unsigned int initval, int flags)


cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec

    enum:
        CLOCK_MONOTONIC
        CLOCK_REALTIME

    int clock_gettime(int clk, timespec *ts)
    int nanosleep(const timespec *req, timespec *rem)


cdef extern from "<sys/resource.h>" nogil:
    ctypedef unsigned long rlim_t

    struct rlimit:
        rlim_t rlim_cur
        rlim_t rlim_max

    enum:
        RLIMIT_NOFILE

    int getrlimit(int resource, rlimit *rlim)
    int setrlimit(int resource, const rlimit *rlim)


cdef extern from "<signal.h>" nogil:
    ctypedef struct sigset_t:
        pass

    enum:
        SIG_SETMASK

    int sigfillset(sigset_t *s)
    int pthread_sigmask(int how, const sigset_t *s, sigset_t *old)


cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t

    ctypedef struct pthread_mutex_t:
        pass

    int pthread_create(pthread_t *t, const void *attr, void *(*start)(void *) noexcept nogil, void *arg)
    int pthread_join(pthread_t t, void **ret)
    int pthread_mutex_init(pthread_mutex_t *m, const void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *m)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)


# GCC atomics. Counters written by one worker stay plain; these are for the few words that
# cross threads (rr cursors, endpoint weights, the published table, epochs, the stop flag).
cdef extern from *:
    """
    #define lb_load_acq(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
    #define lb_store_rel(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
    #define lb_fetch_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
    #define lb_exchange(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
    """
    uint64_t lb_load_u64 "lb_load_acq"(uint64_t *p) nogil
    int64_t lb_load_i64 "lb_load_acq"(int64_t *p) nogil
    int lb_load_int "lb_load_acq"(int *p) nogil
    void lb_store_u64 "lb_store_rel"(uint64_t *p, uint64_t v) nogil
    void lb_store_i64 "lb_store_rel"(int64_t *p, int64_t v) nogil
    void lb_store_int "lb_store_rel"(int *p, int v) nogil
    uint64_t lb_fetch_add_u64 "lb_fetch_add"(uint64_t *p, uint64_t v) nogil

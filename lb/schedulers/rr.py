"""Twin of ext/sched_rr.pyx: round robin over the eligible endpoints, one cursor per service
port that advances past the endpoints it skips (ineligible or avoided). A retry takes the
endpoint after the one that failed and leaves the cursor alone."""
from .row import after_failed, pickable, scan

NAME = "rr"
WEIGHTS = SLOTS = CLIENT_HASH = False


def build(row, old):
    return None


def pick(row, ctx):
    n = len(row.eps)
    if n == 0:
        return -1
    failed = after_failed(row, ctx)
    if failed is not None:
        return failed
    i = row.state.cursor % n
    row.state.cursor += 1
    if pickable(row, ctx, i):
        return i
    i, k = scan(row, ctx, i)
    row.state.cursor += k
    return i


class RoundRobin:
    """One cursor, the hook lb._core.RoundRobinCursor drives: the first eligible endpoint at or
    after cursor % n.

    The cursor advances by one per pick, and by the number of skipped endpoints when some were
    skipped, so the endpoint after an ineligible one does not get its turn twice. Unlike
    kube-proxy's userspace proxier the cursor is neither reset nor the list shuffled when
    endpoints change: the position carries over reloads.
    """

    def __init__(self, n=0):
        self.cursor = 0
        self.n = n

    def next(self, n=None, weights=None):
        """Index of the next eligible endpoint among n (or len(weights)); None if none is."""
        n = len(weights) if weights is not None else (self.n if n is None else n)
        if n <= 0:
            raise ValueError("RoundRobinCursor.next: need at least one endpoint")
        start = self.cursor % n
        self.cursor += 1
        for k in range(n):
            i = (start + k) % n
            if weights is None or weights[i] > 0:
                self.cursor += k
                return i
        return None

"""lb.sources.externalname.NameResolver against a hosts file the test writes and a DNS
server the test runs on 127.0.0.1: hosts first, TTLs, re-resolution, outages."""
from __future__ import annotations

import asyncio
import os

import pytest

from dns_harness import FakeDns
from lb.sources.externalname import NameResolver, read_hosts


@pytest.fixture
def upstream():
    server = FakeDns("127.0.0.1")
    yield server
    server.close()


class Changes:
    """The callback: every (name, addresses) seen, and a way to wait for the next one."""

    def __init__(self):
        self.seen: list[tuple[str, tuple[str, ...]]] = []
        self.queue: asyncio.Queue = asyncio.Queue()

    def __call__(self, name, addresses):
        self.seen.append((name, addresses))
        self.queue.put_nowait((name, addresses))

    async def next(self, timeout: float = 5.0) -> tuple[str, tuple[str, ...]]:
        return await asyncio.wait_for(self.queue.get(), timeout)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def make(tmp_path, upstream, changes, **kw) -> NameResolver:
    hosts = tmp_path / "hosts"
    if not hosts.exists():
        hosts.write_text("127.0.0.1 localhost\n")
    logged = kw.pop("logged", None)
    return NameResolver(changes, hosts_path=str(hosts), nameservers=[upstream.where], timeout=0.5,
                        log=(lambda event, **f: logged.append((event, f))) if logged is not None else None, **kw)


def test_two_a_records_with_a_short_ttl_are_re_resolved(tmp_path, upstream):
    upstream.set("db.example.test", "A", 1, "192.0.2.1", "192.0.2.2")

    async def scenario():
        changes = Changes()
        r = make(tmp_path, upstream, changes, min_ttl=0.2)
        r.watch(["db.example.test."])
        assert await changes.next() == ("db.example.test", ("192.0.2.1", "192.0.2.2"))
        upstream.set("db.example.test", "A", 1, "192.0.2.3")
        assert await changes.next() == ("db.example.test", ("192.0.2.3",))
        assert r.addresses("DB.example.test") == ("192.0.2.3",) and r.error("db.example.test") is None
        await r.close()
    run(scenario())


def test_an_outage_keeps_the_last_good_answer_and_counts_it(tmp_path, upstream):
    upstream.set("api.example.test", "A", 1, "192.0.2.5")
    upstream.set("api.example.test", "AAAA", 1, "2001:db8::5")
    logged = []

    async def scenario():
        changes = Changes()
        r = make(tmp_path, upstream, changes, min_ttl=0.2, logged=logged)
        r.watch(["api.example.test"])
        assert await changes.next() == ("api.example.test", ("192.0.2.5", "2001:db8::5"))
        upstream.down.set()
        while r.failures < 2:
            await asyncio.sleep(0.05)
        assert r.addresses("api.example.test") == ("192.0.2.5", "2001:db8::5")
        assert len(changes.seen) == 1
        upstream.down.clear()
        upstream.set("api.example.test", "A", 1, "192.0.2.6")
        assert (await changes.next(10))[1] == ("192.0.2.6", "2001:db8::5")
        await r.close()
    run(scenario())
    assert any(event == "externalname_refresh_failed" and f["kept"] == "192.0.2.5,2001:db8::5"
               for event, f in logged)


def test_a_name_that_never_resolved_reports_an_error(tmp_path, upstream):
    async def scenario():
        changes = Changes()
        r = make(tmp_path, upstream, changes)
        r.watch(["nowhere.example.test"])
        while r.error("nowhere.example.test") is None:
            await asyncio.sleep(0.02)
        assert "NXDOMAIN" in r.error("nowhere.example.test")
        assert r.addresses("nowhere.example.test") is None and changes.seen == []
        await r.close()
    run(scenario())


def test_the_hosts_file_comes_first_and_holds_until_it_changes(tmp_path, upstream):
    upstream.set("cache.example.test", "A", 1, "192.0.2.9")
    hosts = tmp_path / "hosts"
    hosts.write_text("# test hosts\n127.0.0.1 localhost\n192.0.2.40 cache.example.test cache\n"
                     "2001:db8::40 cache.example.test\n")

    async def scenario():
        changes = Changes()
        r = make(tmp_path, upstream, changes, min_ttl=0.1, hosts_poll=0.05)
        r.watch(["cache.example.test", "192.0.2.77"])
        got = {await changes.next(), await changes.next()}
        assert got == {("cache.example.test", ("192.0.2.40", "2001:db8::40")), ("192.0.2.77", ("192.0.2.77",))}
        await asyncio.sleep(0.3)                    # several TTLs: the hosts answer holds, DNS is never asked
        assert upstream.asked == [] and len(changes.seen) == 2
        tmp = tmp_path / "hosts.new"
        tmp.write_text("127.0.0.1 localhost\n192.0.2.41 cache.example.test\n")
        os.replace(tmp, hosts)
        assert await changes.next() == ("cache.example.test", ("192.0.2.41",))
        tmp.write_text("127.0.0.1 localhost\n")    # gone from the file: the name goes to DNS
        os.replace(tmp, hosts)
        assert await changes.next() == ("cache.example.test", ("192.0.2.9",))
        r.watch(["192.0.2.77"])                      # a name no longer watched is forgotten
        assert r.addresses("cache.example.test") is None
        await r.close()
    run(scenario())


def test_ttls_are_clamped_to_5_and_300_seconds(tmp_path, upstream):
    upstream.set("short.example.test", "A", 1, "192.0.2.50")
    upstream.set("long.example.test", "A", 86400, "192.0.2.51")

    async def scenario():
        r = make(tmp_path, upstream, Changes())
        assert await r._refresh("short.example.test") == 5
        assert await r._refresh("long.example.test") == 300
        await r.close()
    run(scenario())


def test_read_hosts_skips_comments_and_junk(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("# c\n\n10.0.0.1 A.example  b # trailing\nnot-an-ip x\n10.0.0.2 a.example\nfe80::1%eth0 ll\n")
    assert read_hosts(str(path)) == {"a.example": ("10.0.0.1", "10.0.0.2"), "b": ("10.0.0.1",),
                                     "ll": ("fe80::1%eth0",)}

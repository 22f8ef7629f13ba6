"""`lb demo` walks through the seed: round robin, then ClientIP affinity, then lb status."""
from __future__ import annotations

import re

import pytest

from conftest import run_lb


def test_demo_shows_round_robin_then_affinity_then_status():
    done = run_lb("demo", timeout=30)
    if done.returncode != 0 and "another process holds" in done.stderr:
        pytest.skip(f"demo ports busy: {done.stderr.strip()}")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    answers = re.findall(r"^IP: (127\.0\.1\.\d) (pod-\d) (node\d)$", out, re.M)
    assert len(answers) == 12
    rr, sticky = answers[:6], answers[6:]
    assert sorted(rr) == sorted([("127.0.1.1", "pod-1", "node1"), ("127.0.1.2", "pod-2", "node1"),
                                 ("127.0.1.3", "pod-3", "node2")] * 2)
    assert rr[:3] == rr[3:]
    assert len(set(sticky)) == 1
    assert out.count("$ curl 127.10.97.97:8080") == 12
    assert "TCP  127.10.97.97:8080 rr persistent 10800" in out
    assert "Prot LocalAddress:Port Scheduler Flags" in out

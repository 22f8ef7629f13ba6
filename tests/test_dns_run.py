"""`lb run --dns-bind-address`: the cluster DNS of a running lb, asked with dig; reloads,
bind conflicts and `lb dns-config`."""
from __future__ import annotations

import pytest

from conftest import free_port, random_loopback_net, wait_for
from dns_harness import FakeDns, dig

ZONE = "cluster.local"

WEB = """\
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: study}}
spec:
  clusterIP: {ip}
  ports: [{{name: http, port: 80, protocol: TCP}}]
---
apiVersion: v1
kind: Service
metadata: {{name: search, namespace: study}}
spec:
  type: ExternalName
  externalName: www.example.test
"""


@pytest.fixture
def upstream():
    server = FakeDns("127.0.0.1")
    yield server
    server.close()


def test_lb_run_answers_dns_and_follows_a_reload(lb, manifest, upstream):
    net = random_loopback_net()
    port = free_port()
    upstream.set("www.example.test", "A", 60, "192.0.2.30")
    path = manifest(WEB.format(ip=f"{net}.10"))
    proc = lb([path], ["--dns-bind-address", f"127.0.0.1:{port}", "--dns-upstream", upstream.where,
                       "--dns-search-namespace", "study"]).wait_ready()
    proc.wait_log(r"event=dns_listen address=127.0.0.1:%d" % port)
    assert dig(port, f"web.study.svc.{ZONE}.").rdata("A") == [f"{net}.10"]
    assert dig(port, "web.").rdata("A") == [f"{net}.10"]
    d = dig(port, f"search.study.svc.{ZONE}.")
    assert d.rdata("CNAME") == ["www.example.test."] and d.rdata("A") == ["192.0.2.30"]
    manifest(WEB.format(ip=f"{net}.11"))
    proc.wait_log(r"event=dns_zone generation=2")
    assert dig(port, f"web.study.svc.{ZONE}.").rdata("A") == [f"{net}.11"]
    assert proc.terminate() == 0


def test_lb_run_answers_the_seed_headless_query(lb):
    port = free_port()
    proc = lb(["configs/seed/headless"], ["--dns-bind-address", f"127.0.0.1:{port}"]).wait_ready()
    proc.wait_log("event=dns_listen")
    d = dig(port, f"service-headliness.study.svc.{ZONE}.")
    assert d.status == "NOERROR" and {"qr", "aa"} <= d.flags
    assert sorted(d.rdata("A")) == ["10.244.104.10", "10.244.166.129", "10.244.166.191"]


def test_lb_run_refuses_a_dns_address_that_a_service_serves(lb, netns):
    ns = netns("dnsconflict")
    proc = lb(["configs/seed/kube-system"], ["--dns-bind-address", "10.96.0.10:53",
                                              "--service-cluster-ip-range", "10.96.0.0/12"], ns=ns)
    assert proc.proc.wait(20) == 2
    log = proc.log
    assert 'lb run: --dns-bind-address 10.96.0.10:53 is also 10.96.0.10:53/UDP' in log
    assert 'Service "kube-system/kube-dns"' in log and "one owner per address:port/protocol" in log


def test_a_reload_that_brings_a_conflict_is_logged_and_dns_keeps_answering(lb, manifest):
    net = random_loopback_net()
    port = free_port(f"{net}.53")
    path = manifest(WEB.format(ip=f"{net}.10"))
    proc = lb([path], ["--dns-bind-address", f"{net}.53:{port}"]).wait_ready()
    proc.wait_log("event=dns_listen")
    taker = (f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: taker, namespace: study}}\nspec:\n"
             f"  clusterIP: {net}.53\n  ports: [{{name: dns, port: {port}, protocol: UDP}}]\n")
    manifest(WEB.format(ip=f"{net}.10") + taker)
    log = proc.wait_log(r"event=dns_conflict")
    assert 'Service \\"study/taker\\"' in log or 'Service "study/taker"' in log
    assert dig(port, f"web.study.svc.{ZONE}.", server=f"{net}.53").rdata("A") == [f"{net}.10"]


def test_dns_flags_are_checked(lb_cli):
    done = lb_cli("run", "-f", "configs/seed/headless", "--dns-bind-address", "localhost:53")
    assert done.returncode == 2 and "must be an IP address" in done.stderr
    done = lb_cli("run", "-f", "configs/seed/headless", "--dns-bind-address", "127.0.0.1:1", "--dns-upstream",
                  "dns.example")
    assert done.returncode == 2 and "not an IP address" in done.stderr
    done = lb_cli("run", "-f", "configs/seed/headless", "--cluster-domain", "Bad_Domain")
    assert done.returncode == 2


def test_dns_config_prints_a_resolv_conf_and_a_resolved_drop_in(lb_cli):
    done = lb_cli("dns-config", "--dns-bind-address", "127.0.0.1:10053", "--dns-search-namespace", "study")
    assert done.returncode == 0
    out = done.stdout.splitlines()
    assert "nameserver 127.0.0.1" in out
    assert "search study.svc.cluster.local svc.cluster.local cluster.local" in out
    assert "options ndots:5" in out
    assert "[Resolve]" in out and "DNS=127.0.0.1:10053" in out and "Domains=~cluster.local" in out
    assert any("systemd >= 246" in line for line in out)
    done = lb_cli("dns-config", "--dns-bind-address", ":53", "--cluster-domain", "corp.internal")
    assert "DNS=127.0.0.1" in done.stdout.splitlines() and "search default.svc.corp.internal svc.corp.internal " \
        "corp.internal" in done.stdout and "resolv.conf has no port" not in done.stdout


def test_dns_is_off_without_a_bind_address(lb, manifest):
    net = random_loopback_net()
    proc = lb([manifest(WEB.format(ip=f"{net}.10"))]).wait_ready()
    wait_for(lambda: "event=started" in proc.log, 10, "start")
    assert "dns_listen" not in proc.log

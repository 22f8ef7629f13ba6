"""The `lb` command line itself: --version, and flags checked before anything starts
(a usage error is one line naming the flag and what it accepts, exit 2)."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, random_loopback_net, service_yaml

from lb import __version__
from lb.settings import ManifestSettings, RunSettings, SettingError

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "configs" / "demo"


def lb(*args, stdin: str | None = None, timeout: float = 30):
    return subprocess.run([sys.executable, "-m", "lb", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, input=stdin)


def test_version_prints_lb_and_its_version():
    r = lb("--version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"lb {__version__}\n", "")


BAD_FLAGS = [
    # (argv, flag named, words of what it accepts)
    (["run", "-f", DEMO, "--workers", "0"], "--workers", "from 1 to 64"),
    (["run", "-f", DEMO, "--workers", "-1"], "--workers", "from 1 to 64"),
    (["run", "-f", DEMO, "--workers", "65"], "--workers", "from 1 to 64"),
    (["run", "-f", DEMO, "--workers", "two"], "--workers", "invalid int value"),
    (["run", "-f", DEMO, "--tcp-idle-timeout", "0"], "--tcp-idle-timeout", "above 0"),
    (["run", "-f", DEMO, "--tcp-idle-timeout", "inf"], "--tcp-idle-timeout", "above 0"),
    (["run", "-f", DEMO, "--drain-timeout", "-1"], "--drain-timeout", "0 or more"),
    (["run", "-f", DEMO, "--drain-timeout", "nan"], "--drain-timeout", "0 or more"),
    (["run", "-f", DEMO, "--nodeport-addresses", "127.0.0.1,bogus"], "--nodeport-addresses", "IP address or CIDR"),
    (["run", "-f", DEMO, "--metrics-bind-address", "127.0.0.1:70000"], "--metrics-bind-address", "IP:PORT"),
    (["run", "-f", DEMO, "--metrics-bind-address", "somewhere:80"], "--metrics-bind-address", "IP:PORT"),
    (["run", "-f", DEMO, "--dummy-interface", "a-name-longer-than-15"], "--dummy-interface", "1 to 15"),
    (["run", "-f", DEMO, "--service-cluster-ip-range", "10.96.0.1/12"], "--service-cluster-ip-range",
     "has host bits set"),
    (["run", "-f", DEMO, "--service-node-port-range", "30000-70000"], "--service-node-port-range", "LOW-HIGH"),
    (["validate", "-f", DEMO, "--service-cluster-ip-range", "10.0.0.0/8,10.1.0.0/16"],
     "--service-cluster-ip-range", "one IPv4 and one IPv6"),
    (["get", "svc", "-f", DEMO, "--service-node-port-range", "32767-30000"], "--service-node-port-range", "LOW-HIGH"),
    (["render", "--mode", "ipvs", "--node-ip", "10.0.0", "-f", DEMO], "--node-ip", "IP address"),
    (["status", "--metrics-bind-address", "127.0.0.1:x"], "--metrics-bind-address", "IP:PORT"),
    (["demo", "--workers", "0"], "--workers", "from 1 to 64"),
    (["demo", "--requests", "0"], "--requests", "1 or more"),
    (["demo", "--metrics-bind-address", "[::1]:99999"], "--metrics-bind-address", "IP:PORT"),
]


@pytest.mark.parametrize("argv, flag, accepted", BAD_FLAGS, ids=[" ".join(map(str, a[0][:1] + a[0][-2:]))
                                                                 for a in BAD_FLAGS])
def test_bad_flag_is_one_usage_line_before_anything_starts(argv, flag, accepted):
    r = lb(*argv)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1, r.stderr            # no log lines: nothing started
    assert r.stderr.startswith(f"lb {argv[0]}: error: argument {flag}") and accepted in r.stderr, r.stderr


def test_settings_check_values_given_directly():
    with pytest.raises(SettingError, match=r"argument --workers: invalid value 0"):
        RunSettings(workers=0)
    with pytest.raises(ValueError, match="--nodeport-addresses"):
        RunSettings(nodeport_addresses=("10.0.0.1", "not-an-ip"))
    with pytest.raises(ValueError, match="--service-cluster-ip-range"):
        ManifestSettings(service_cluster_ip_range="fd00::/64,fd01::/64")
    # what lb demo and the tests build is accepted
    RunSettings(workers=2, nodeport_addresses=("127.0.0.1", "::/0"), metrics_bind_address="127.0.0.1:0",
                tcp_idle_timeout=60.0, drain_timeout=0.0, dummy_interface="lb0")
    RunSettings(metrics_bind_address=":10249")
    RunSettings(metrics_bind_address="[::1]:10249")


# --- lb run -f - ----------------------------------------------------------------------

def test_run_reads_stdin_once_and_serves_it_across_reloads(backends, lb, manifest, curl):
    b = backends(2)
    web_ip = f"{random_loopback_net()}.97"
    web_port = free_port(web_ip)
    other_ip = f"{random_loopback_net()}.98"
    other_port = free_port(other_ip)
    from_file = manifest(service_yaml("other", other_ip, other_port, b))
    proc = lb(["-", from_file], stdin=service_yaml("web", web_ip, web_port, b)).wait_ready()
    assert "event=stdin objects=2 " in proc.log and "not stdin" in proc.log
    assert curl(f"http://{web_ip}:{web_port}/") in {b.answer(0), b.answer(1)}
    proc.proc.send_signal(signal.SIGHUP)
    proc.wait_log("event=reload trigger=sighup")
    # the reload re-read the file; what came on stdin still serves
    assert curl(f"http://{web_ip}:{web_port}/") in {b.answer(0), b.answer(1)}
    assert curl(f"http://{other_ip}:{other_port}/") in {b.answer(0), b.answer(1)}


def test_run_logs_a_service_whose_selector_finds_no_pod(lb, manifest):
    ip = f"{random_loopback_net()}.97"
    path = manifest(f"""\
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: study}}
spec:
  clusterIP: {ip}
  selector: {{app: web}}
  ports: [{{port: 80}}]
""")
    proc = lb([path]).wait_ready()
    log = proc.wait_log("event=selects_no_pod")
    line = next(line for line in log.splitlines() if "event=selects_no_pod" in line)
    assert "level=warning" in line and "service=study/web" in line and f"source={path}:6" in line
    assert "lb does not run workloads" in line and "status.podIP" in line

"""When lb applies a change: at once for a file renamed into place, only once whole for a file
written in place, and never lost when it comes while lb is starting."""
from __future__ import annotations

import os
import subprocess
import time

from conftest import endpoints_yaml, free_port, random_loopback_net, service_yaml, wait_for


def vip() -> tuple[str, int]:
    ip = f"{random_loopback_net()}.97"
    return ip, free_port(ip)


def answers(curl, ip: str, port: int, n: int = 4) -> set[str]:
    return {curl(f"http://{ip}:{port}/") for _ in range(n)}


def test_a_change_made_the_moment_lb_serves_is_applied(backends, lb, manifest, curl):
    """The watcher is armed some time after the first load: a rename made in between must
    still be seen (it used to be lost until the next change)."""
    b = backends(2)
    ip, port = vip()
    path = manifest(service_yaml("web", ip, port, None) + endpoints_yaml("web", b.ips[:1], b.port))
    proc = lb([path])
    wait_for(lambda: _serves(curl, ip, port), 15, "the first answer")
    manifest(service_yaml("web", ip, port, None) + endpoints_yaml("web", b.ips[1:], b.port))   # at once
    wait_for(lambda: answers(curl, ip, port) == {b.answer(1)}, 10, "the change to be applied")
    assert "Traceback" not in proc.log


def _serves(curl, ip: str, port: int) -> bool:
    try:
        curl(f"http://{ip}:{port}/", timeout=1)
        return True
    except AssertionError:
        return False


def test_a_file_written_in_place_is_applied_only_once_whole(backends, lb, manifest, tmp_path, curl):
    """A writer that pauses between two documents leaves valid YAML that is half the file:
    lb waits until the file has been quiet, then applies the whole of it."""
    b = backends(3)
    ip, port = vip()
    path = manifest(service_yaml("web", ip, port, None) + endpoints_yaml("web", b.ips[:1], b.port))
    proc = lb([path]).wait_ready()
    other_ip, other_port = vip()
    whole = (service_yaml("web", ip, port, None) + endpoints_yaml("web", b.ips, b.port) + "---\n"
             + service_yaml("api", other_ip, other_port, None) + endpoints_yaml("api", b.ips[:1], b.port))
    half = whole[:whole.index("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: api")]
    with open(path, "r+") as f:                 # in place, as `cat >` or a slow writer does
        f.truncate(0)
        f.write(half)
        f.flush()
        os.fsync(f.fileno())
        time.sleep(0.1)                         # the writer pauses, shorter than lb's quiet time
        f.write(whole[len(half):])
    proc.wait_log(r"event=reload trigger=watch .*virtual_servers=2")
    assert answers(curl, other_ip, other_port, 2) == {b.answer(0)}
    reloads = [line for line in proc.log.splitlines() if "event=reload trigger=watch " in line]
    assert len(reloads) == 1 and "virtual_servers=2" in reloads[0], "the half file was never applied"


def test_sighup_reloads_and_a_touch_changes_nothing(backends, lb, manifest, curl):
    b = backends(2)
    ip, port = vip()
    path = manifest(service_yaml("web", ip, port, None) + endpoints_yaml("web", b.ips[:1], b.port))
    proc = lb([path]).wait_ready()
    generation = proc.status()["generation"]
    subprocess.run(["kill", "-HUP", str(proc.proc.pid)], check=True)
    # no change: no new generation, but the SIGHUP was taken (a later change shows it is alive)
    manifest(service_yaml("web", ip, port, None) + endpoints_yaml("web", b.ips[1:], b.port))
    wait_for(lambda: answers(curl, ip, port) == {b.answer(1)}, 10, "the change after SIGHUP")
    assert proc.status()["generation"] == generation + 1

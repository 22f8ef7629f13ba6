"""lb.io/ annotations: validated at their own line like any field, parsed once, and the
scheduler they choose (over --ipvs-scheduler) is the one that serves."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import free_port, run_curl, service_yaml
from lb.config.annotations import PREFIX, known, parse_annotations
from lb.config.annotations.parsers import seconds

ROOT = Path(__file__).resolve().parent.parent


def with_annotations(doc: str, annotations: dict[str, str]) -> str:
    lines = "".join(f'    {k}: "{v}"\n' for k, v in annotations.items())
    return doc.replace("  namespace: study\nspec:", "  namespace: study\n  annotations:\n" + lines + "spec:", 1)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_bad_value_is_an_error_at_its_line(manifest, lb_cli):
    text = with_annotations(service_yaml("web", "10.96.0.20", 80, None), {"lb.io/scheduler": "fastest"})
    path = manifest(text)
    done = lb_cli("validate", "-f", str(path))
    assert done.returncode == 1
    line = line_of(text, "lb.io/scheduler")
    assert (f'{path}:{line}: Service "study/web" is invalid: metadata.annotations[lb.io/scheduler]: '
            f'Invalid value: "fastest": supported values: ') in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_lb_key_is_an_error_other_keys_are_not(manifest, lb_cli):
    text = with_annotations(service_yaml("web", "10.96.0.20", 80, None),
                            {"lb.io/schedular": "mh", "example.com/owner": "team-a"})
    path = manifest(text)
    done = lb_cli("validate", "-f", str(path))
    assert done.returncode == 1
    line = line_of(text, "lb.io/schedular")
    assert re.search(rf'{re.escape(str(path))}:{line}: .*metadata.annotations\[lb.io/schedular\]: '
                     r'Unsupported value: "lb.io/schedular": supported values: .*"lb.io/scheduler"', done.stderr)
    assert "example.com/owner" not in done.stderr


def test_annotation_on_a_kind_it_is_not_for(manifest, lb_cli):
    text = ("apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: web\n  namespace: study\n  annotations:\n"
            "    lb.io/scheduler: mh\nsubsets:\n- addresses:\n  - ip: 10.0.0.1\n  ports:\n  - port: 80\n")
    done = lb_cli("validate", "-f", str(manifest(text)))
    assert done.returncode == 1
    assert ":7: " in done.stderr and "Unsupported value: \"lb.io/scheduler\"" in done.stderr


def test_every_annotation_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [a.key for a in known() if f"`{a.key}`" not in readme]
    assert not missing, f"README.md does not document {missing}"


def test_parsed_values_and_errors():
    options, errors = parse_annotations("Service", {"lb.io/scheduler": "mh", "other": "x"})
    assert dict(options) == {"scheduler": "mh"} and errors == []
    assert parse_annotations("Service", None) == ({}, [])
    parse = seconds(0, 600)
    assert parse("30") == 30 and parse("1m30s") == 90 and parse("500ms") == 0.5
    for bad in ("", "-1", "10x", "nan", "601"):
        with pytest.raises(ValueError):
            parse(bad)
    assert all(a.key.startswith(PREFIX) for a in known())


def test_flag_refuses_an_unknown_scheduler(lb_cli, manifest):
    path = manifest(service_yaml("web", "127.20.0.9", 80, None))
    done = lb_cli("run", "-f", str(path), "--ipvs-scheduler", "fastest")
    assert done.returncode == 2
    assert "argument --ipvs-scheduler: invalid value 'fastest': must be one of lc, mh, rr, sh, wlc, wrr" \
        in done.stderr


def test_annotation_overrides_the_flag(manifest, lb, backends):
    pods = backends(3)
    port_a, port_b = free_port("127.20.0.10"), free_port("127.20.0.11")
    text = with_annotations(service_yaml("pinned", "127.20.0.10", port_a, pods), {"lb.io/scheduler": "sh"})
    text += "---\n" + service_yaml("spread", "127.20.0.11", port_b, pods)
    proc = lb([manifest(text)], extra=["--ipvs-scheduler", "wrr"]).wait_ready()
    schedulers = {vs["service"]: vs["scheduler"] for vs in proc.status()["virtual_servers"]}
    assert schedulers == {"study/pinned": "sh", "study/spread": "wrr"}
    # sh: one client address always reaches one pod; wrr with equal weights: every pod in turn
    pinned = {run_curl(f"http://127.20.0.10:{port_a}/") for _ in range(6)}
    spread = {run_curl(f"http://127.20.0.11:{port_b}/") for _ in range(6)}
    assert len(pinned) == 1 and len(spread) == 3
    status = proc.get("/status").decode()
    assert '"scheduler": "sh"' in status or '"scheduler":"sh"' in status


def test_render_ipvs_follows_annotation_and_flag(manifest, lb_cli):
    text = with_annotations(service_yaml("pinned", "10.96.0.10", 80, None), {"lb.io/scheduler": "mh"})
    text += "---\n" + service_yaml("spread", "10.96.0.11", 80, None)
    done = lb_cli("render", "--mode", "ipvs", "--ipvs-scheduler", "lc", "-f", str(manifest(text)))
    assert done.returncode == 0, done.stderr
    assert "-A -t 10.96.0.10:80 -s mh" in done.stdout and "-A -t 10.96.0.11:80 -s lc" in done.stdout


def test_scheduler_names_are_the_cores_and_the_twins():
    from lb import _core
    from lb.config.annotations.scheduling import SCHEDULERS
    from lb.schedulers import ALGORITHMS
    assert set(SCHEDULERS) == set(ALGORITHMS)
    for name in SCHEDULERS:
        _core.Scheduler(name, [(1, "10.0.0.1", 80, 1)], (), 0.0, 1)   # the core knows it

"""Scheduler options (the optional 6th element of a table row, ext/sched_options.pyx) and the
scheduler registry: what apply accepts, the errors naming the service port, row reuse."""
import pytest

from lb import _core

EPS = ((1, "10.1.0.1", 80, 1), (2, "10.1.0.2", 80, 1))


def table(scheduler, *options, endpoints=EPS):
    row = (10, "ns/web:http/TCP", scheduler, 0, endpoints)
    return {"service_ports": [row + options], "frontends": []}


def test_scheduler_names_lists_the_registered_schedulers_rr_first():
    assert _core.scheduler_names() == ("rr", "wrr", "lc", "wlc", "sh", "mh")


@pytest.mark.parametrize("scheduler, options", [
    ("rr", ()),                                       # 5 elements: no options
    ("rr", (None,)),
    ("rr", ((),)),
    ("wlc", ((("slow_start", 30),),)),
    ("sh", ((("hash_port", True), ("slow_start", 0.5)),)),
    ("mh", ((("mh_table_size", 251), ("hash_port", False)),)),
    ("mh", ([["mh_table_size", 3]],)),                # lists are read, only never reused
])
def test_rows_with_and_without_options_are_accepted(scheduler, options):
    assert _core.Core(workers=1).apply(table(scheduler, *options)) == 1


@pytest.mark.parametrize("scheduler, options, message", [
    ("rr", (("weight", 1),), r"option 'weight' is not supported: supported: hash_port, "
                             r"mh_table_size, slow_start"),
    ("rr", (("mh_table_size", 251),), r"option 'mh_table_size' does not apply to scheduler 'rr': "
                                      r"only to mh"),
    ("wrr", (("hash_port", True),), r"option 'hash_port' does not apply to scheduler 'wrr': "
                                    r"only to sh, mh"),
    ("rr", (("slow_start", 1), ("slow_start", 2)), r"option 'slow_start' is given twice"),
    ("rr", (("slow_start", -1),), r"option 'slow_start' must be 0..86400 seconds: -1"),
    ("rr", (("slow_start", "5"),), r"option 'slow_start' must be 0..86400 seconds: '5'"),
    ("rr", (("slow_start", True),), r"option 'slow_start' must be 0..86400 seconds: True"),
    ("rr", (("slow_start", float("nan")),), r"option 'slow_start' must be 0..86400 seconds: nan"),
    ("sh", (("hash_port", 1),), r"option 'hash_port' must be True or False: 1"),
    ("mh", (("mh_table_size", 65536),), r"option 'mh_table_size' must be a prime larger than the "
                                        r"number of endpoints \(2\), at most 1048573: 65536"),
    ("mh", (("mh_table_size", 2),), r"option 'mh_table_size' must be a prime .*: 2$"),
    ("mh", (("mh_table_size", 1048583),), r"option 'mh_table_size' .* at most 1048573: 1048583$"),
    ("mh", (("mh_table_size", 2**80 + 1),), r"option 'mh_table_size' .* at most 1048573: 12089"),
    ("rr", ("slow_start", 5), r"options must be a tuple of \(key, value\) pairs"),
    ("rr", {"slow_start": 5}, r"options must be a tuple of \(key, value\) pairs"),
])
def test_bad_options_are_rejected_naming_the_service_port_and_change_nothing(scheduler, options, message):
    core = _core.Core(workers=1)
    core.apply(table("rr"))
    with pytest.raises(ValueError, match=r"^apply: service port ns/web:http/TCP \(sp_id 10\): "
                                         + message):
        core.apply(table(scheduler, options))
    assert core.stats()["generation"] == 1


def test_a_row_of_neither_5_nor_6_elements_is_rejected():
    with pytest.raises(ValueError, match=r"endpoints\[, options\]\)"):
        _core.Core(workers=1).apply({"service_ports": [(10, "ns/web", "rr", 0, EPS, (), 7)]})


def test_slot_schedulers_take_at_most_65535_endpoints():
    eps = tuple((i, f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}", 80, 1) for i in range(65536))
    core = _core.Core(workers=1)
    with pytest.raises(ValueError, match=r"scheduler 'mh' takes at most 65535 endpoints: 65536"):
        core.apply(table("mh", endpoints=eps))
    assert core.apply(table("lc", endpoints=eps)) == 1


def test_rows_with_options_are_reused_while_equal():
    core = _core.Core(workers=1)
    core.apply(table("mh", (("mh_table_size", 251), ("hash_port", True))))
    core.apply(table("mh", (("mh_table_size", 251), ("hash_port", True))))      # equal, fresh
    assert core.stats()["rows_built"] == 1
    core.apply(table("mh", (("mh_table_size", 257), ("hash_port", True))))
    core.apply(table("mh", [("mh_table_size", 257), ("hash_port", True)]))       # a list: rebuilt
    assert core.stats()["rows_built"] == 3

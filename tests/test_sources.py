"""lb.sources.files: each file's last good content stays in force, including when an
edit brings an error that only shows across files."""
from __future__ import annotations

from lb.settings import ManifestSettings
from lb.sources.files import ManifestFiles


def svc(name: str, ip: str, node_port: int) -> str:
    return (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: ns}}\n"
            f"spec:\n  type: NodePort\n  clusterIP: {ip}\n  ports:\n"
            f"  - {{port: 80, targetPort: 8080, nodePort: {node_port}}}\n")


def names(snap) -> dict[str, tuple]:
    return {v.service.name: (v.service.cluster_ip, v.service.ports[0].node_port) for v in snap.services}


def test_a_file_with_a_bad_edit_keeps_its_last_good_content(tmp_path):
    (tmp_path / "a.yaml").write_text(svc("a", "10.97.0.1", 30001))
    files = ManifestFiles(ManifestSettings(files=(str(tmp_path),)))
    files.load(1)
    (tmp_path / "a.yaml").write_text(svc("a", "10.97.0.1", 30001).replace("type: NodePort", "type: Nope"))
    snap, rejected = files.load(2)
    assert names(snap) == {"a": ("10.97.0.1", 30001)}
    assert [r.path for r in rejected] == [str(tmp_path / "a.yaml")]
    assert 'spec.type: Unsupported value: "Nope"' in str(rejected[0].errors[0])


def test_an_edit_that_collides_with_another_file_is_reverted_and_reported(tmp_path):
    """b.yaml is valid on its own, but its new nodePort is a.yaml's: only the Snapshot
    sees that. b.yaml goes back to its last good content; a.yaml is untouched."""
    (tmp_path / "a.yaml").write_text(svc("a", "10.97.0.1", 30001))
    (tmp_path / "b.yaml").write_text(svc("b", "10.97.0.2", 30002))
    files = ManifestFiles(ManifestSettings(files=(str(tmp_path),)))
    first, rejected = files.load(1)
    assert not rejected and not first.errors

    (tmp_path / "b.yaml").write_text(svc("b", "10.97.0.2", 30001))
    snap, rejected = files.load(2)
    assert names(snap) == {"a": ("10.97.0.1", 30001), "b": ("10.97.0.2", 30002)}
    assert not snap.errors
    assert [r.path for r in rejected] == [str(tmp_path / "b.yaml")]
    assert "spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated" in \
        str(rejected[0].errors[-1])

    (tmp_path / "b.yaml").write_text(svc("b", "10.97.0.2", 30003))     # fixed: applies
    snap, rejected = files.load(3)
    assert names(snap) == {"a": ("10.97.0.1", 30001), "b": ("10.97.0.2", 30003)} and not rejected


def test_a_new_file_that_collides_serves_its_valid_objects_only(tmp_path):
    """A file seen for the first time has no last good content: like kube-proxy, lb serves
    what is valid and reports the rest."""
    (tmp_path / "a.yaml").write_text(svc("a", "10.97.0.1", 30001))
    files = ManifestFiles(ManifestSettings(files=(str(tmp_path),)))
    files.load(1)
    (tmp_path / "c.yaml").write_text(svc("c", "10.97.0.3", 30001) + "---\n" + svc("d", "10.97.0.4", 30004))
    snap, rejected = files.load(2)
    assert names(snap) == {"a": ("10.97.0.1", 30001), "d": ("10.97.0.4", 30004)}
    assert not rejected
    assert [d.name for d in snap.errors] == ["c"]

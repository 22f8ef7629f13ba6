""".ci/run as CI runs it, in a copy of the repository whose package tools are stand-ins
that record what they were asked (apt-get, pip and pytest are not run for real here)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STUBS = {
    # every system package counts as installed, so apt-get is never reached
    "dpkg-query": 'printf "install ok installed"\n',
    "apt-get": 'echo "apt-get $*" >> "$CALLS"; exit 1\n',
    "systemctl": "exit 0\n",
    # `python3 -m venv DIR` makes DIR/bin/{pip,python} that record their calls
    "python3": """[ "$1 $2" = "-m venv" ] || exit 1
mkdir -p "$3/bin"
for tool in pip python; do
  printf '#!/bin/sh\\necho "%s/bin/%s $*" >> "$CALLS"\\n' "$3" "$tool" > "$3/bin/$tool"
  chmod +x "$3/bin/$tool"
done
""",
}


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"ends in\s+the test command `([^`]+)`", text)
    assert match, "the README names the test command .ci/run ends in"
    return match.group(1)


def run_ci_copy(tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path, list[str]]:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").write_text("the user's own virtualenv\n")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text("#!/bin/sh\n" + body)
        (stubs / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "CALLS": str(calls), "CI": "true"}
    r = subprocess.run(["bash", str(repo / ".ci" / "run")], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    return r, repo, calls.read_text().splitlines()


def test_ci_keeps_the_users_venv_and_runs_the_readme_test_command(tmp_path):
    r, repo, calls = run_ci_copy(tmp_path)
    assert r.returncode == 0, r.stderr
    assert (repo / ".venv" / "bin" / "python").read_text() == "the user's own virtualenv\n"
    assert not any(c.startswith(".venv/") for c in calls), calls
    # the last thing CI does is exactly the README's test command
    assert calls[-1] == readme_test_command()


def test_ci_virtualenv_is_ignored_by_git(tmp_path):
    _, _, calls = run_ci_copy(tmp_path)
    venv = calls[-1].split("/bin/")[0]
    assert venv != ".venv"
    r = subprocess.run(["git", "check-ignore", "-q", f"{venv}/bin/python"], cwd=ROOT)
    assert r.returncode == 0, f"{venv}/ is not in .gitignore"

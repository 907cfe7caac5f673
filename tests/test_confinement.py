"""The audit hook that keeps a graded submission inside its scratch directory.

Audit hooks cannot be removed, so each check runs in a fresh Python process.
"""

import subprocess
import sys
import textwrap

import pytest

from aecourse.grade import _write_atomic


def run_confined(tmp_path, body, max_output=1_000_000):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = textwrap.dedent(f"""
        import os, shutil, subprocess, sys
        from aecourse.confinement import confine
        confine({str(scratch)!r}, max_output_bytes={max_output})
        def attempt(label, action):
            try:
                action()
                print(label, "allowed")
            except PermissionError as err:
                print(label, "refused", err)
    """) + textwrap.dedent(body)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=scratch)
    assert result.returncode == 0, result.stderr
    return scratch, dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def test_changes_inside_scratch_are_allowed(tmp_path):
    scratch, seen = run_confined(tmp_path, """
        attempt("write", lambda: open("notes.txt", "w").write("x"))
        attempt("mkdir", lambda: os.makedirs("sub/dir"))
        attempt("rename", lambda: os.rename("notes.txt", "sub/notes.txt"))
        attempt("rmtree", lambda: shutil.rmtree("sub"))
        attempt("devnull", lambda: open(os.devnull, "w").write("x"))
        attempt("read", lambda: open(sys.executable, "rb").read(10))
    """)
    assert all(v == "allowed" for v in seen.values()), seen
    assert not (scratch / "sub").exists()


def test_changes_outside_scratch_are_refused(tmp_path):
    victim = tmp_path / "instructor.txt"
    victim.write_text("keep me")
    _, seen = run_confined(tmp_path, f"""
        victim = {str(victim)!r}
        attempt("write", lambda: open(victim, "w"))
        attempt("append", lambda: open(victim, "a"))
        attempt("os.open", lambda: os.open(victim, os.O_WRONLY))
        attempt("remove", lambda: os.remove(victim))
        attempt("rename", lambda: os.rename(victim, "stolen.txt"))
        attempt("escape", lambda: open("../escaped.txt", "w"))
        attempt("chmod", lambda: os.chmod(victim, 0o777))
        attempt("rmtree", lambda: shutil.rmtree(os.path.dirname(victim)))
    """)
    assert set(seen) == {"write", "append", "os.open", "remove", "rename", "escape", "chmod", "rmtree"}
    assert all(v.startswith("refused not allowed while grading") for v in seen.values()), seen
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "escaped.txt").exists()


def test_other_programs_and_signals_are_refused(tmp_path):
    _, seen = run_confined(tmp_path, """
        attempt("subprocess", lambda: subprocess.run(["true"]))
        attempt("system", lambda: os.system("true"))
        attempt("kill", lambda: os.kill(os.getppid(), 0))
    """)
    assert all(v.startswith("refused") and "not allowed while grading" in v for v in seen.values()), seen


def test_output_is_cut_at_the_limit(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = (f"from aecourse.confinement import confine\nconfine({str(scratch)!r}, max_output_bytes=1000)\n"
            "for i in range(1000):\n    print('0123456789')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert len(result.stdout) < 1300
    assert result.stdout.count("[output truncated: more than 1,000 bytes") == 1


def test_confine_twice_is_an_error(tmp_path):
    code = f"from aecourse.confinement import confine\nconfine({str(tmp_path)!r})\nconfine({str(tmp_path)!r})\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "already been called" in result.stderr


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "gradebook.csv"
    _write_atomic(target, "old complete gradebook\n")

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        _write_atomic(target, "new gradebook, half writ")
    assert target.read_text() == "old complete gradebook\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gradebook.csv"]

"""A submission's gradebook record: scores clamped per question, comments, resume key."""

import hashlib
import json
import math
from dataclasses import dataclass, field, fields

from .gradebook import disk_name

__all__ = ["FORMAT_VERSION", "Record", "make_record", "resume_key"]

FORMAT_VERSION = 4  # 4: judge CPU limits, declared answers only (issue 21)


def _comment(result):
    failed = result.get("failed", [])
    if not failed:
        return "all tests passed"
    parts = [f"{'hidden test' if t['hidden'] else 'test'} failed: {t['message']}" for t in failed[:3]]
    if len(failed) > 3:
        parts.append(f"and {len(failed) - 3} more")
    return "; ".join(parts)


def _feedback(question, result):
    failed = result.get("failed", [])
    if not failed:
        return f"{question}: all tests passed"
    lines = [f"{question}: {len(failed)} test(s) failed"]
    lines += [f"- a {'hidden ' if t['hidden'] else ''}test failed: {t['message']}" for t in failed]
    return "\n".join(lines)


def _clamped(score, possible):
    try:
        score = float(score)
    except (TypeError, ValueError):
        return 0.0
    return min(max(score, 0.0), possible) if math.isfinite(score) else 0.0  # NaN and infinity count as 0


def _failed(result):
    failed = result.get("failed")
    if not isinstance(failed, list):
        return []
    return [{"hidden": bool(t.get("hidden")), "message": str(t.get("message", ""))[:300]}
            for t in failed if isinstance(t, dict)]


@dataclass
class Record:
    """One submission's result, as the task hands it to the batch and ``results/*.json`` stores it."""

    format: int
    assignment: str
    tests_digest: str
    key: str  # the resume key: a stored record is reused only while it matches
    submission: str
    sha256: str
    status: str  # graded, stopped, unreadable, error
    total: float
    possible: float
    problems: list
    questions: dict  # {question: {score, possible, comment, feedback}}
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    files: dict = field(default_factory=dict)
    sandbox_seconds: float = 0.0
    judge_cpu_seconds: float = 0.0
    executed: bytes = field(default=None, repr=False, compare=False)  # the executed notebook; not in the JSON

    def as_dict(self):
        """The JSON form (what ``results/`` holds and :func:`~aegrader.batch.grade_folder` returns)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "executed"}


def make_record(assignment, name, sha256, key, judged, problems, status, seconds=0.0, cpu=0.0, peak=0.0):
    """One submission's :class:`Record`, with a row for every question of ``assignment``."""
    graded = judged.get("questions", {}) if isinstance(judged, dict) else {}
    graded = graded if isinstance(graded, dict) else {}
    why_not = problems[0] if problems else "the tests did not run"
    questions = {}
    for question, possible in assignment.possible.items():
        result = graded.get(question)
        if isinstance(result, dict):
            result = {"failed": _failed(result)}
            score = _clamped(graded[question].get("score"), possible)
            questions[question] = {"score": score, "possible": possible, "comment": _comment(result),
                                   "feedback": _feedback(question, result)}
        else:
            questions[question] = {"score": 0.0, "possible": possible, "comment": f"not graded: {why_not}",
                                   "feedback": f"{question} was not graded: {why_not}"}
    return Record(
        format=FORMAT_VERSION, assignment=assignment.name, tests_digest=assignment.digest, key=key,
        submission=name, sha256=sha256, status=status,
        total=sum(q["score"] for q in questions.values()), possible=sum(assignment.possible.values()),
        problems=problems, questions=questions, seconds=round(seconds, 1),
        cpu_seconds=round(cpu, 1), peak_memory_mb=round(peak),
        files={"feedback": f"feedback/{disk_name(name, '.md')}"},
    )


def resume_key(assignment, limits, unsafe, raw):
    """What a stored result must match to be reused: grader, tests, limits, sandbox and file."""
    sha = hashlib.sha256(raw if isinstance(raw, bytes) else repr(raw).encode()).hexdigest()
    return hashlib.sha256(json.dumps([FORMAT_VERSION, assignment.name, assignment.digest, limits.as_dict(),
                                      bool(unsafe), sha], sort_keys=True).encode()).hexdigest()

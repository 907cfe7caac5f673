"""``python -m aecourse.grade``: the command line of the batch grader."""

import argparse
import sys
import time

from aecourse.assign import AssignError
from .batch import BatchProblems, grade_folder, output_folder
from .gradebook import GradebookBusy
from .limits import GradingLimits
from .roster import RosterError
from .sandbox import SandboxUnavailable

__all__ = ["main"]


def main(argv=None):
    defaults = GradingLimits()
    parser = argparse.ArgumentParser(
        prog="python -m aecourse.grade",
        epilog="Also run as python -m aegrader or aecourse-grade.",
        description="Grade every .ipynb in a folder against an assignment's public and hidden tests, "
                    "each in its own sandbox.",
    )
    parser.add_argument("submissions", help="folder with the submitted notebooks")
    parser.add_argument("--assignment", required=True, help="assignment name, e.g. 02_mnist_pca (a notebook in solutions/)")
    parser.add_argument("--out", help="output folder (default: grading-output/<assignment>)")
    parser.add_argument("--jobs", type=int, help="submissions graded in parallel (default: number of cores)")
    parser.add_argument("--timeout", type=float, default=defaults.timeout,
                        help="CPU seconds per submission; wall-clock backstop 3x this (default %(default)s)")
    parser.add_argument("--cell-timeout", type=float, default=defaults.cell_timeout,
                        help="CPU seconds before a cell is interrupted (default %(default)s)")
    parser.add_argument("--memory-mb", type=float, default=defaults.memory_mb,
                        help="memory limit per submission in MB, its files in /tmp included (default %(default)s)")
    parser.add_argument("--max-output", type=int, default=defaults.max_output_bytes,
                        help="bytes of outputs of every kind kept per submission (default %(default)s)")
    parser.add_argument("--regrade", action="store_true", help="grade everything again instead of resuming")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="run submissions without bubblewrap, able to read and change your files")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on the workers of this Dask scheduler (tcp://host:8786) instead of here; "
                             "this machine only writes the gradebook")
    parser.add_argument("--only", metavar="NAME", action="append", default=[],
                        help="grade only this submission again (a file name, or a student id of the roster); "
                             "may be given more than once")
    parser.add_argument("--roster", metavar="FILE",
                        help="CSV with the columns file and student: the student id of each file in grades.csv")
    parser.add_argument("--overrides", metavar="FILE",
                        help="CSV with the columns student, question, score and reason: scores the instructor "
                             "sets by hand (default: overrides.csv in the output folder, if there is one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    limits = GradingLimits(timeout=args.timeout, cell_timeout=args.cell_timeout, memory_mb=args.memory_mb,
                           max_output_bytes=args.max_output)
    if args.unsafe_no_sandbox:
        print("warning: grading without a sandbox: the submissions can read and change your files",
              file=sys.stderr)
    started = time.monotonic()
    problems = BatchProblems()
    try:
        records = grade_folder(args.submissions, args.assignment, args.out, jobs=args.jobs, limits=limits,
                               regrade=args.regrade, progress=not args.quiet,
                               unsafe_no_sandbox=args.unsafe_no_sandbox, scheduler=args.scheduler,
                               only=args.only, roster=args.roster, problems=problems, overrides=args.overrides)
    except (AssignError, SandboxUnavailable, GradebookBusy, RosterError, OSError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)  # one sentence, no traceback: nothing was half-done
        return 2
    except KeyboardInterrupt:
        print("interrupted: the gradebook holds every submission finished so far; run the same command to resume",
              file=sys.stderr)
        return 130
    if not records:
        print(f"no .ipynb files in {args.submissions}", file=sys.stderr)
        return 1
    out = output_folder(args.out, records[0]["assignment"])
    full = sum(r["total"] == r["possible"] for r in records)
    with_problems = sum(bool(r["problems"]) for r in records)
    print(f"graded {len(records)} submissions in {time.monotonic() - started:.0f} s: "
          f"{full} with full marks, {with_problems} with problems noted")
    print(f"grades:    {out / 'grades.csv'} (one row per student)\n"
          f"summary:   {out / 'summary.csv'}, {out / 'summary.png'}\n"
          f"gradebook: {out / 'gradebook.csv'}\nfeedback:  {out / 'feedback'}/ (one file per student)")
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 1 if problems.ungraded else 0

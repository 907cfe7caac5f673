"""The sandbox side: run one submission's notebook, then answer the judge's calls.

``python -m aegrader.runner`` runs inside the sandbox (see
:mod:`aegrader.sandbox`). It speaks plain-data frames
(:mod:`aegrader.plain`) on its stdin and stdout, which it keeps for itself:

1. reads the job: the notebook (already checked by the judge), its file name, the
   per-cell limits and the names of the answers the tests need;
2. runs the notebook in a fresh Jupyter kernel, interrupting a cell that has used
   ``cell_timeout`` CPU seconds, and keeping at most ``max_output_bytes`` of outputs;
3. sends back the executed notebook and the answers (:func:`aegrader.kernel.harvest`:
   plain answers as data, the names of the others, which stay in the kernel);
4. serves requests: the judge asks to call an answer with plain arguments, or to
   run a test's probe (:mod:`aegrader.probes`); the kernel answers
   (:func:`aegrader.kernel.serve`) and the plain result (or the exception's name
   and message) goes back.

Nothing here is trusted: the student's code shares the sandbox with this process and
may replace anything in it. The judge treats every byte it gets from here as input.
"""

import json
import os
import signal
import struct
import sys
import threading
import time
from pathlib import Path

from . import plain
from .notebook import (
    CELL_NUMBER_KEY,
    KERNEL_STARTUP,
    TRUNCATION_MARK,
    limit_outputs,
    number_code_cells,
    without_iri_checks,
)

EXCHANGE = ".aecourse-exchange"  # in the job's home: its own in the sandbox and without it
CPU_FILE = "/run/aecourse/cpu"  # the job's cgroup CPU time (v1 cpuacct.usage, v2 cpu.stat), read-only

HARVEST = """\
def _aecourse_harvest(names, path):
    import aegrader.kernel as kernel
    import aegrader.plain as plain
    frame = plain.pack(kernel.harvest(names, globals()))
    with open(path, "wb") as f:
        f.write(frame)
_aecourse_harvest(%r, %r)
del _aecourse_harvest
"""

CALL = """\
def _aecourse_call(request_path, reply_path):
    import aegrader.kernel as kernel
    import aegrader.plain as plain
    with open(request_path, "rb") as f:
        request = plain.unpack_frame(f.read())
    frame = kernel.serve(request, globals())
    with open(reply_path, "wb") as f:
        f.write(frame)
_aecourse_call(%r, %r)
del _aecourse_call
"""


def _job_cpu_seconds():
    """CPU seconds of the whole job (the cgroup's counter), else of this process's children."""
    try:
        with open(CPU_FILE) as f:
            text = f.read()
        if text.startswith("usage_usec"):
            return int(text.split()[1]) / 1e6
        return int(text) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    import psutil

    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


class CellCpuWatchdog:
    """Interrupt the kernel once a cell has used ``limit`` CPU seconds.

    CPU time, not wall time, so that a busy machine does not interrupt a good cell.
    """

    def __init__(self, limit, interval=0.25):
        self.limit = float(limit)
        self.interval = interval
        self.kernel_pid = None
        self._started_at = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def cell_started(self, **_):
        self._started_at = _job_cpu_seconds()

    def cell_ended(self, **_):
        self._started_at = None

    def _watch(self):
        interrupted_for = None
        while not self._stop.wait(self.interval):
            started = self._started_at
            if started is None or started is interrupted_for or not self.kernel_pid:
                continue
            if _job_cpu_seconds() - started > self.limit:
                interrupted_for = started
                try:
                    os.kill(self.kernel_pid, signal.SIGINT)
                except OSError:
                    pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _client(nb, job, watchdog):
    import nbformat
    from nbclient import NotebookClient

    limit = int(job["max_output_bytes"])

    class Client(NotebookClient):
        """Counts every kind of output (text, images, HTML) and drops what passes the limit."""

        output_bytes, told = 0, False

        def output(self, outs, msg, display_id, cell_index):
            if msg.get("msg_type") != "error":
                self.output_bytes += len(json.dumps(msg.get("content", {})))
                if self.output_bytes > limit:
                    if not self.told:
                        self.told = True
                        outs.append(nbformat.v4.new_output(
                            "stream", name="stderr",
                            text=f"{TRUNCATION_MARK} the notebook's outputs passed {limit:,} bytes; "
                                 "the rest is not shown]\n"))
                    return None
            return super().output(outs, msg, display_id, cell_index)

        def handle_comm_msg(self, outs, msg, cell_index):
            # A widget or any comm message, well-formed or not, is the student's business:
            # one that nbclient cannot follow is dropped, never the notebook's run.
            try:
                super().handle_comm_msg(outs, msg, cell_index)
            except Exception as err:
                print(f"a comm message was dropped ({type(err).__name__})", file=sys.stderr)

    wall = int(job["cell_wall_timeout"])
    return Client(
        nb, timeout=wall, allow_errors=True, interrupt_on_timeout=True, kernel_name="python3",
        error_on_timeout={"ename": "CellTimeout", "traceback": [],
                          "evalue": f"ran for more than {wall} s of wall-clock time and was interrupted "
                                    "(waiting instead of computing?)"},
        resources={"metadata": {"path": os.getcwd()}},
        on_cell_execute=watchdog.cell_started, on_cell_executed=watchdog.cell_ended,
    )


def _run_extra(client, source, watchdog):
    """Run code in the kernel outside the notebook, under the same CPU watchdog."""
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    try:
        watchdog.cell_started()
        client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
    finally:
        watchdog.cell_ended()
        client.nb.cells.pop()


def _write_kernel_startup():
    startup = Path(os.environ.get("IPYTHONDIR") or "~/.ipython").expanduser() / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-aegrader.py").write_text(KERNEL_STARTUP)


def run(job, send, receive):
    import nbformat
    from nbclient.exceptions import DeadKernelError

    _write_kernel_startup()
    nb = nbformat.reads(job["notebook"], as_version=4)
    number_code_cells(nb)
    Path(job["file_name"]).write_text(job["notebook"])  # the notebook opens itself by this name
    exchange = os.path.abspath(EXCHANGE)
    os.makedirs(exchange, exist_ok=True)
    problems, alive = [], True
    watchdog = CellCpuWatchdog(job["cell_timeout"])
    client = _client(nb, job, watchdog)
    with watchdog, client.setup_kernel():
        watchdog.kernel_pid = client.km.provisioner.pid if client.km.provisioner else None
        try:
            for index, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    raise
                except Exception as err:  # a message the client cannot follow costs that cell, not the run
                    number = cell.get("metadata", {}).get(CELL_NUMBER_KEY, "?")
                    problems.append(f"the grader could not follow the messages of code cell {number} "
                                    f"({type(err).__name__}); the run went on")
        except DeadKernelError:
            problems.append("the notebook's Python process died (it crashed, ran out of memory or called exit)")
            alive = False
        outputs_cut = bool(limit_outputs(nb, job["max_output_bytes"]) or client.told)
        if outputs_cut:
            problems.append(f"the notebook's outputs passed {int(job['max_output_bytes']):,} bytes; "
                            "the rest was dropped")
        executed = nbformat.writes(nb)
        answers = {}
        if alive:
            answers_path = f"{exchange}/answers"
            try:
                _run_extra(client, HARVEST % (list(job["answers"]), answers_path), watchdog)
                with open(answers_path, "rb") as f:
                    answers = plain.unpack_frame(f.read())
            except Exception as err:  # a dead kernel or answers that are not plain
                problems.append(f"the answers could not be read from the notebook ({type(err).__name__})")
                alive = False
        send({"executed": executed, "answers": answers, "problems": problems, "outputs_cut": outputs_cut})
        while alive:
            try:
                request = receive()
            except EOFError:
                break
            if request.get("quit"):
                break
            request_path, reply_path = f"{exchange}/request", f"{exchange}/reply"
            with open(request_path, "wb") as f:
                f.write(plain.pack(request))
            if os.path.exists(reply_path):
                os.remove(reply_path)
            try:
                _run_extra(client, CALL % (request_path, reply_path), watchdog)
                with open(reply_path, "rb") as f:
                    reply = plain.unpack_frame(f.read(plain.MAX_JSON_BYTES + plain.MAX_NPZ_BYTES + 16))
            except DeadKernelError:
                send({"raised": "the notebook's Python process died during the call"})
                break
            except OSError:
                send({"raised": "the call was interrupted (too slow, or an endless loop?)"})
                continue
            except (plain.PlainDataError, ValueError, struct.error) as err:
                send({"raised": f"the reply is not plain data ({str(err)[:100]})"})
                continue
            send(reply)  # decoded and encoded again: a malformed frame never reaches the judge


_CHANNEL_OUT = None


def main():
    global _CHANNEL_OUT
    # Keep the channel and the log for this process (os.dup: not inherited). The kernel and
    # whatever it starts get /dev/null as stdin, stdout and stderr: what they write to the
    # raw file descriptors lands nowhere, not in a file on the host that has no size limit.
    channel_in = os.fdopen(os.dup(0), "rb", buffering=0)
    _CHANNEL_OUT = os.fdopen(os.dup(1), "wb")
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: the kernel cannot read our fds
    except (OSError, AttributeError):
        pass

    def send(value):
        plain.send(_CHANNEL_OUT, value)

    def receive():
        return plain.receive(channel_in)

    without_iri_checks()
    job = receive()
    started = time.monotonic()
    try:
        run(job, send, receive)
    except Exception as err:  # report, never hang the judge
        try:
            send({"executed": "", "answers": {}, "problems": [f"the sandbox failed: {type(err).__name__}: {err}"]})
        except Exception:
            pass
    print(f"runner done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

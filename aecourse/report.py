"""Regenerate the stored outputs and the timing report: run every notebook, measure it, record its key result.

    python -m aecourse.report                         # run all, save their outputs, write book/running_times.csv
    python -m aecourse.report book/05_stacked.ipynb   # only these notebooks (and their rows of the table)
    python -m aecourse.report --out /tmp/run          # save executed copies there; touch nothing in the repo
    python -m aecourse.report --check                 # only compare the table with the stored notebooks
    python -m aecourse.report --out /tmp/s100 --seed-offset 100   # other random numbers: which lesson checks fail?
    python -m aecourse.report --out /tmp/run --profile /tmp/cells.csv   # and the seconds of every cell
    python -m aecourse.report --rebuild-store book/08_ae_vs_pca.ipynb   # retrain its stored models, then run it
    python -m aecourse.report --spreads book/06_denoising.ipynb   # its compared numbers at seed offsets 100, 200

This is the one command to run after changing a notebook, a helper it uses or a
pinned version: it re-executes each notebook top to bottom in a fresh kernel, in the
folder it lives in, saves the fresh outputs into the notebook (the outputs nbval
compares against), and times it. Its key result is a number the
notebook itself computed: for a chapter, a value it glued (``myst_nb.glue``) for
its prose; for a solution, a variable it defined, read by one extra cell run after
the notebook's own. :data:`KEY_RESULTS` says which. The CSV is what the book's
"Running the course" page shows, so the page's numbers come from this script and
nothing in it is typed by hand.

A chapter shows the spread over seed offsets 0, 100 and 200 of the numbers it compares
(:mod:`aecourse.spreads`). ``--spreads`` runs the chapters at offsets 100 and 200 (or at
``--seed-offset N`` alone), saving no notebook, and writes their
recorded values into ``aecourse/seed_spreads.json``; every run that saves the outputs in
place writes the offset-0 values, so the file and the stored outputs come from the same run.

The CPU the table was measured on goes into ``book/running_machine.csv``. To see how
long the course takes where oneDNN, TensorFlow's CPU kernel library, has no AVX-512 (as
on many laptops), run ``ONEDNN_MAX_CPU_ISA=AVX2 python -m aecourse.report --out DIR``.
"""

import argparse
import contextlib
import csv
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from .assign import ROOT

__all__ = ["KEY_RESULTS", "notebooks", "glued_values", "run_notebook", "spreads", "main"]

TABLE = ROOT / "book" / "running_times.csv"
MACHINE = ROOT / "book" / "running_machine.csv"
HEADER = ["notebook", "seconds", "key result", "what it is"]
# The course's time budget on its 2-core reference machine (no GPU), in seconds.
NOTEBOOK_BUDGET = 90
COURSE_BUDGET = 600

# notebook (path from the repository root, no suffix) -> ("glue" or "variable", name, what it is);
# a "variable" may be an expression over the notebook's variables
KEY_RESULTS = {
    "book/01_introduction": ("glue", "intro_test_mse", "test MSE per pixel of the 32-number autoencoder"),
    "book/02_mnist_pca": ("glue", "pca_mse_32", "test MSE per pixel of PCA with 32 components"),
    "book/03_neurons": ("glue", "test_acc_final", "held-out test accuracy of the 600-unit classifier"),
    "book/04_single_layer": ("glue", "mse_100", "test MSE per pixel of the 784-100-784 autoencoder"),
    "book/05_stacked": ("glue", "mse_ae_32", "test MSE per pixel of the deep autoencoder with a 32-number code"),
    "book/06_denoising": ("glue", "psnr_gain", "PSNR gain (dB) of the denoiser at noise factor 0.5"),
    "book/07_convolutional": ("glue", "mse_conv_32", "test MSE per pixel of the convolutional autoencoder with a 32-number code"),
    "book/08_ae_vs_pca": ("glue", "max_angle", "largest principal angle (degrees), linear autoencoder vs PCA"),
    "book/09_latent_space": ("glue", "auc_ae", "ROC AUC of one-class anomaly detection"),
    "book/10_sparse_features": ("glue", "sae_purity_features", "mean class purity of the TopK autoencoder's features (top 20 test digits)"),
    "book/11_vae": ("glue", "test_rec", "reconstruction term (nats per test digit) of the 2-D VAE"),
    "solutions/02_mnist_pca": ("variable", "test_mse_32", "test MSE per pixel of PCA with 32 components"),
    "solutions/03_neurons": ("variable", "test_accuracy", "test accuracy of the student's classifier"),
    "solutions/04_single_layer": ("variable", "test_mse", "test MSE per pixel of the 784-100-784 autoencoder"),
    "solutions/05_stacked": ("variable", "mse_ae_16", "test MSE per pixel of the 16-number deep autoencoder"),
    "solutions/06_denoising": ("variable", "psnr_gain", "PSNR gain (dB) of the student's Gaussian denoiser"),
    "solutions/07_convolutional": ("variable", "conv_test_mse", "test MSE per pixel of the student's convolutional autoencoder"),
    "solutions/08_ae_vs_pca": ("variable", "float(max(angles))", "largest principal angle (degrees), 8-number linear autoencoder vs PCA"),
    "solutions/09_latent_space": ("variable", "auc", "ROC AUC of the student's one-class anomaly detector"),
    "solutions/10_sparse_features": ("variable", "nmse_pca_32", "normalised MSE of PCA with 32 components on the test digits (pixels as units)"),
    "solutions/11_vae": ("variable", "test_terms['reconstruction_loss']", "reconstruction term (nats per test digit) of the 8-number VAE"),
}
_VARIABLE_MARK = "aecourse-report-key-result"


def notebooks():
    """Every executed notebook of the instructor edition: the chapters, then the solutions."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc_instructor.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    found = [ROOT / f"{f}.ipynb" for f in files if f.startswith(("book/", "solutions/"))]
    found = [p for p in found if p.exists()]
    return [p for p in found if p.parent.name == "book"] + [p for p in found if p.parent.name == "solutions"]


def _key(path):
    """A notebook's row name: its path from the repository's root, without suffix (outside it, the full path)."""
    path = Path(path).resolve()
    return str((path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).with_suffix(""))


def glued_values(nb):
    """The values a notebook glued, by name, as their plain-text form."""
    values = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = data.get("application/papermill.record/text/plain")
            if name and text is not None:
                values[name] = "".join(text).strip("'\"")
    return values


def meaning_of(path):
    return KEY_RESULTS.get(_key(path), (None, None, ""))[2]


def key_result(path, nb):
    """The key result of a notebook (executed, as a dict) and what it means."""
    kind, name, meaning = KEY_RESULTS.get(_key(path), (None, None, ""))
    if kind == "glue":
        values = glued_values(nb)
        if name not in values:
            raise KeyError(f"{_key(path)} glues no value named {name!r} (it glues {sorted(values)})")
        return values[name], meaning
    if kind == "variable":
        cell = nb["cells"][-1]
        if _VARIABLE_MARK not in "".join(cell.get("source", "")):
            return "", meaning  # a stored notebook: the variable is only read when the report runs it
        text = ("".join(o.get("text", "")) for o in cell.get("outputs", []))
        return "".join(text).strip(), meaning
    return "", ""


def run_notebook(path, timeout=600, allow_errors=False, env=None, cell_seconds=None):
    """Execute a notebook in its own folder; return (seconds, executed notebook as dict).

    ``env`` adds environment variables for the kernel (as ``ONEDNN_MAX_CPU_ISA``); a list
    passed as ``cell_seconds`` receives ``(cell index, seconds)`` for every cell run.

    The time covers starting the kernel and the notebook's own cells; for a notebook whose key result is
    a variable, one more cell prints it afterwards, rounded to 4 significant digits (the last cell of the
    returned notebook; :func:`save_notebook` leaves it out). With ``allow_errors``, a cell that raises
    keeps its error as its output and the notebook runs on.
    """
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    kind, name, _ = KEY_RESULTS.get(_key(path), (None, None, ""))
    # no progress display (aecourse.training.progress): the saved outputs are what the book shows
    kernel_env = {**os.environ, "AECOURSE_QUIET": "1", **(env or {})}
    with tempfile.TemporaryDirectory(prefix="aecourse-kernel-") as sockets:
        # Local sockets where there are any (absolute paths: the kernel runs in the notebook's
        # folder): over TCP, ipykernel warns on every start that the kernel's traffic is
        # unencrypted, a line the reader of the report cannot act on.
        local = {"transport": "ipc", "ip": f"{sockets}/kernel"} if os.name == "posix" else {}
        km = KernelManager(kernel_name="python3", **local)
        client = NotebookClient(nb, km=km, timeout=timeout,
                                kernel_name="python3", record_timing=False, allow_errors=allow_errors,
                                resources={"metadata": {"path": str(Path(path).parent)}})
        started = time.perf_counter()  # a reader's wait includes starting the kernel
        # nbclient leaves a kernel manager it was given running: each notebook's kernel lived
        # until this process ended (one more TensorFlow process per notebook), then warned
        # "Parent appears to have exited"
        with _shut_down_after(km), client.setup_kernel(env=kernel_env):
            for index, cell in enumerate(nb.cells):
                cell_started = time.perf_counter()
                client.execute_cell(cell, index)
                if cell_seconds is not None:
                    cell_seconds.append((index, time.perf_counter() - cell_started))
            seconds = time.perf_counter() - started
            if kind == "variable":
                probe = nbformat.v4.new_code_cell(
                    f"# {_VARIABLE_MARK}\nimport numbers\n_key_result = {name}\n"
                    "print(f'{_key_result:.4g}' if isinstance(_key_result, numbers.Real)"
                    " and not isinstance(_key_result, numbers.Integral) else _key_result)")
                nb.cells.append(probe)
                client.execute_cell(probe, len(nb.cells) - 1)
    return seconds, json.loads(nbformat.writes(nb))


@contextlib.contextmanager
def _shut_down_after(km):
    try:
        yield
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=False)


def save_notebook(nb, target):
    """Write an executed notebook (as returned by :func:`run_notebook`) without the key-result probe."""
    import nbformat

    nb = json.loads(json.dumps(nb))
    if nb["cells"] and _VARIABLE_MARK in "".join(nb["cells"][-1].get("source", "")):
        nb["cells"].pop()
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.from_dict(nb), str(target))


def failed_cells(nb):
    """The code cells of an executed notebook (as a dict) that raised, as (index, error name, message)."""
    return [(index, output["ename"], output["evalue"]) for index, cell in enumerate(nb["cells"])
            for output in cell.get("outputs", []) if output.get("output_type") == "error"]


def _is_lesson_check(cell):
    return "lesson-check" in cell.get("metadata", {}).get("tags", [])


def _stored_rows():
    """The committed table as {notebook: (seconds, key result, meaning)}; empty when there is none."""
    if not TABLE.exists():
        return {}
    with open(TABLE) as f:
        return {r["notebook"]: (float(r["seconds"]), r["key result"], r["what it is"]) for r in csv.DictReader(f)}


def _rows(results):
    """The table: every notebook in course order, from ``results`` where it was run, else its stored row.

    ``results`` holds ``(notebook, seconds, key result, meaning)`` tuples.
    """
    measured = {key: rest for key, *rest in results}
    stored = _stored_rows()
    rows, total = [list(HEADER)], 0.0
    for key in (_key(p) for p in notebooks()):
        if key not in measured and key not in stored:
            raise SystemExit(f"{key} has no row in {TABLE.relative_to(ROOT)} yet: run it too")
        seconds, value, meaning = measured.get(key) or stored[key]
        rows.append([key, f"{seconds:.1f}", value, meaning])
        total += seconds
    rows.append(["all notebooks", f"{total:.1f}", "", ""])
    return rows


def machine_description():
    """The CPU this run is on: model, widest vector instructions, cores; and TensorFlow's version."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:  # not Linux: the model name from platform is all we know
        pass
    widest = next((name for flag, name in [("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_1", "SSE4.1")]
                   if flag in flags), "unknown")
    return {"cpu": model, "widest vector instructions": widest, "cores": str(os.cpu_count()),
            "TensorFlow": _tensorflow_version()}


def _tensorflow_version():
    from importlib.metadata import PackageNotFoundError, version

    for distribution in ("tensorflow-cpu", "tensorflow"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "not installed"


def _write_machine():
    rows = [["what", "on the machine that made the table"]] + [list(kv) for kv in machine_description().items()]
    _write_csv(MACHINE, rows)


def _write_csv(path, rows):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    Path(path).write_text(buffer.getvalue())


def _write_table(rows):
    _write_csv(TABLE, rows)


def _first_line(cell):
    lines = "".join(cell.get("source", "")).strip().splitlines()
    return lines[0][:80] if lines else ""


def check():
    """Problems with the committed table: missing notebooks, stale key results."""
    problems = []
    if not TABLE.exists():
        return [f"{TABLE.relative_to(ROOT)} does not exist: run `python -m aecourse.report`"]
    with open(TABLE) as f:
        rows = {row["notebook"]: row for row in csv.DictReader(f)}
    for path in notebooks():
        key = _key(path)
        if key not in rows:
            problems.append(f"{key} is not in the table")
            continue
        value, _ = key_result(path, json.loads(path.read_text()))
        if value and rows[key]["key result"] != value:
            problems.append(f"{key}: the table says {rows[key]['key result']!r}, the notebook {value!r}")
        if not float(rows[key]["seconds"]) > 0:
            problems.append(f"{key}: no time measured")
    extra = set(rows) - {_key(p) for p in notebooks()} - {"all notebooks"}
    problems.extend(f"{key} is in the table but is not a notebook" for key in sorted(extra))
    return problems


def rebuild_store(paths):
    """Train every stored model of these notebooks afresh and write it into the store.

    Their old entries are removed first, so an entry a notebook no longer asks for does
    not stay behind. The executed notebooks of this pass are thrown away: their outputs
    say "trained", where a reader's run loads.
    """
    from . import store

    manifest = store.entries()
    stems = tuple(f"{Path(_key(p)).name}/" for p in paths)
    for name in [n for n in manifest if n.startswith(stems)]:
        (store.STORE / manifest.pop(name)["file"]).unlink(missing_ok=True)
    if store.STORE.exists():
        (store.STORE / store.MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"rebuilding the store: running {len(paths)} notebooks with every model trained")
    for path in paths:
        seconds, _ = run_notebook(path, env={"AECOURSE_RETRAIN": "1", "AECOURSE_STORE_WRITE": "1"})
        print(f"{_key(path):40s} {seconds:6.1f} s", flush=True)
    size = sum(f.stat().st_size for f in store.STORE.glob("*.npz")) if store.STORE.exists() else 0
    print(f"the store holds {len(store.entries())} models in {size / 1e6:.1f} MB")


def spreads(paths, offsets):
    """Run each notebook at each seed offset, writing its recorded values; 1 when a cell raised.

    Only the values written into :data:`aecourse.spreads.SPREADS` are kept: the executed
    notebooks are not saved, so the stored outputs stay those of offset 0.
    """
    failures = 0
    for offset in offsets:
        env = {"AECOURSE_SEED_OFFSET": str(offset), "AECOURSE_SPREADS_WRITE": "1"}
        for path in paths:
            seconds, nb = run_notebook(path, allow_errors=True, env=env)
            print(f"{_key(path):40s} {seconds:6.1f} s  seed offset {offset}", flush=True)
            for index, name, message in failed_cells(nb):
                failures += 1
                lesson = "lesson check " if _is_lesson_check(nb["cells"][index]) else ""
                print(f"    {lesson}cell {index} raised {name}: {message}".rstrip(), flush=True)
    print(f"wrote the values recorded at seed offsets {', '.join(map(str, offsets))};"
          f" {failures} cells raised")
    return 1 if failures else 0


def _selected(parser, paths):
    """The notebooks named (checked to be the course's), or every one."""
    known = {_key(p): p for p in notebooks()}
    selected = []
    for path in paths:
        if not path.exists() or not path.resolve().is_relative_to(ROOT) or _key(path) not in known:
            parser.error(f"{path} is not a chapter or solution notebook of the course")
        selected.append(known[_key(path)])
    return selected or list(known.values())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m aecourse.report", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every chapter and solution)")
    parser.add_argument("--check", action="store_true", help="only check the committed table against the notebooks")
    parser.add_argument("--out", type=Path,
                        help="save the executed notebooks under this folder instead of in place, and leave the table")
    parser.add_argument("--seed-offset", type=int, metavar="N",
                        help="add N to every seed (AECOURSE_SEED_OFFSET) and list the lesson checks that fail;"
                             " needs --out")
    parser.add_argument("--profile", type=Path, metavar="CSV", help="write the seconds of every cell to this file")
    parser.add_argument("--rebuild-store", action="store_true",
                        help="first run the notebooks with every model trained (AECOURSE_RETRAIN=1), writing the"
                             " models they take from aecourse/store afresh, then run them as usual")
    parser.add_argument("--spreads", action="store_true",
                        help="run the notebooks at seed offsets 100 and 200 (or --seed-offset N), saving no notebook,"
                             " and write the values they record into aecourse/seed_spreads.json")
    args = parser.parse_args(argv)
    if args.spreads:
        if args.check or args.out or args.rebuild_store or args.profile:
            parser.error("--spreads goes alone, with notebooks and at most --seed-offset")
        if args.seed_offset is not None and args.seed_offset <= 0:
            parser.error("--spreads --seed-offset takes a whole number > 0 (offset 0 is the ordinary run)")
        return spreads(_selected(parser, args.notebooks), [args.seed_offset] if args.seed_offset else [100, 200])
    if args.seed_offset is not None and (args.seed_offset < 0 or not args.out):
        parser.error("--seed-offset takes a whole number >= 0 and goes with --out (the stored outputs use offset 0)")
    if args.check:
        problems = check()
        print("\n".join(problems) or "the timing table matches the notebooks")
        return 1 if problems else 0
    selected = _selected(parser, args.notebooks)
    env = {} if args.seed_offset is None else {"AECOURSE_SEED_OFFSET": str(args.seed_offset)}
    if args.rebuild_store:
        if env:
            parser.error("--rebuild-store builds the store for seed offset 0; leave out --seed-offset")
        rebuild_store(selected)
    machine = machine_description()
    print(f"running {len(selected)} notebooks on {machine['cpu']} ({machine['widest vector instructions']},"
          f" {machine['cores']} cores)" + (f", seed offset {args.seed_offset}" if env else ""))
    results, profile = [], []
    failures, lessons_failed = 0, []
    for path in selected:
        cells = []
        # the run that writes the stored outputs writes the offset-0 seed spreads too
        written = env if args.out else {**env, "AECOURSE_SPREADS_WRITE": "1"}
        seconds, nb = run_notebook(path, allow_errors=bool(args.out), env=written, cell_seconds=cells)
        profile.extend((_key(path), index, round(s, 2), _first_line(nb["cells"][index])) for index, s in cells)
        failed = failed_cells(nb)
        value, meaning = key_result(path, nb) if not failed else ("", meaning_of(path))
        results.append((_key(path), seconds, value, meaning))
        save_notebook(nb, args.out / f"{_key(path)}.ipynb" if args.out else path)
        print(f"{_key(path):40s} {seconds:6.1f} s  {value} {meaning}", flush=True)
        for index, name, message in failed:
            failures += 1
            if _is_lesson_check(nb["cells"][index]):
                lessons_failed.append(f"{_key(path)} cell {index}")
            print(f"    cell {index} raised {name}: {message}".rstrip(), flush=True)
    if args.profile:
        _write_csv(args.profile, [["notebook", "cell", "seconds", "first line"], *profile])
    if args.out:
        print(f"saved {len(results)} executed notebooks under {args.out}; {failures} cells raised")
        if lessons_failed:
            print("lesson checks that failed: " + ", ".join(lessons_failed))
        elif env:
            print(f"every lesson check held with seed offset {args.seed_offset}")
        return 1 if failures else 0
    rows = _rows(results)
    _write_table(rows)
    _write_machine()
    print(f"{'all notebooks':40s} {rows[-1][1]:>6s} s\n"
          f"saved the outputs in place; wrote {TABLE.relative_to(ROOT)} and {MACHINE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The seed spreads a chapter shows (aecourse/spreads.py): recorded, read back, and never stale."""

import json
import re

import pytest

from aecourse import spreads
from aecourse.report import glued_values
from conftest import ROOT

# a key a chapter reads: spread.range("key", ...), .span(...), .text(...), .overlap(...)
_READ = re.compile(r"\.(?:range|span|text|overlap)\(\s*\"([^\"]+)\"")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("AECOURSE_SPREADS_WRITE", "AECOURSE_STORE_STRICT", "AECOURSE_SEED_OFFSET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_recorded_values_come_back_as_a_range_and_a_text(clean_env, tmp_path):
    path = tmp_path / "spreads.json"
    spread = spreads.SeedSpread("06_denoising", path)
    assert spread.record("gain", 8.1) == 8.1 and not path.exists()  # only written when asked
    clean_env.setenv("AECOURSE_SPREADS_WRITE", "1")
    for offset, value in [(100, 7.9), (200, 8.4), (0, 8.1)]:
        clean_env.setenv("AECOURSE_SEED_OFFSET", str(offset))
        assert spread.record("gain", value) == value
    clean_env.setenv("AECOURSE_SEED_OFFSET", "0")
    assert json.loads(path.read_text()) == {"06_denoising": {"gain": {"0": 8.1, "100": 7.9, "200": 8.4}}}
    assert spread.range("gain", 8.1) == (7.9, 8.4)
    assert spread.range("gain", 9.0) == (7.9, 9.0)  # the live value stands in for offset 0
    assert spread.text("gain", 8.1, ".1f", " dB") == "8.1 dB (7.9–8.4 over seed offsets 0, 100, 200)"
    assert spread.span("gain", 8.1, ".2f") == "7.90–8.40"
    clean_env.setenv("AECOURSE_SEED_OFFSET", "100")
    assert spread.range("gain", 7.0) == (7.0, 8.4)
    clean_env.setenv("AECOURSE_SEED_OFFSET", "200")
    spread.record("loss", 8.5)  # 8.4-8.5 overlaps 7.9-8.4; 8.5-8.6 does not
    clean_env.setenv("AECOURSE_SEED_OFFSET", "100")
    spread.record("loss", 8.6)
    clean_env.setenv("AECOURSE_SEED_OFFSET", "0")
    assert spread.overlap("gain", 8.1, "loss", 8.4) and not spread.overlap("gain", 8.1, "loss", 8.55)


def test_a_missing_value_is_one_line_or_under_the_tests_an_error(clean_env, tmp_path, capsys):
    spread = spreads.SeedSpread("06_denoising", tmp_path / "spreads.json")
    assert spread.range("gain", 8.1) == (8.1, 8.1)
    assert spread.text("gain", 8.1, ".1f", " dB") == "8.1 dB (spread over seeds not recorded)"
    said = capsys.readouterr().out.splitlines()
    assert len(said) == 1 and "python -m aecourse.report --spreads book/06_denoising.ipynb" in said[0]
    clean_env.setenv("AECOURSE_STORE_STRICT", "1")
    with pytest.raises(spreads.SpreadError, match=r"aecourse\.report --spreads book/06_denoising\.ipynb"):
        spread.text("gain", 8.1)


def stale(data):
    """What is wrong with the file's contents ``data``, against the stored notebooks."""
    problems = []
    for notebook, keys in sorted(data.items()):
        path = ROOT / "book" / f"{notebook}.ipynb"
        if not path.exists():
            problems.append(f"{notebook}: no such chapter")
            continue
        glued = {name[len("spread_"):]: float(value) for name, value in
                 glued_values(json.loads(path.read_text())).items() if name.startswith("spread_")}
        if set(glued) != set(keys):
            problems.append(f"{notebook}: the stored outputs record {sorted(glued)}, the file {sorted(keys)}")
        for key, value in sorted(glued.items()):
            if keys.get(key, {}).get("0") != value:
                problems.append(f"{notebook}: {key} is {value} in the stored outputs, "
                                f"{keys.get(key, {}).get('0')} in the file at offset 0")
        for key, recorded in sorted(keys.items()):
            if sorted(recorded) != sorted(str(o) for o in spreads.OFFSETS):
                problems.append(f"{notebook}: {key} has values at seed offsets {sorted(recorded)}")
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        source = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        for key in sorted(set(_READ.findall(source))):
            recorded = data.get(path.stem, {}).get(key, {})
            missing = [o for o in spreads.OFFSETS if str(o) not in recorded]
            if missing:
                problems.append(f"{path.stem} reads {key!r}, which has no value at seed offsets {missing}")
    return problems


def test_the_file_is_clean_json_and_matches_the_stored_outputs():
    text = spreads.SPREADS.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=1, sort_keys=True) + "\n"
    for keys in data.values():
        for values in keys.values():
            assert all(isinstance(v, float) for v in values.values()), values
    assert stale(data) == [], "run `python -m aecourse.report --spreads` and then the report on these chapters"


def test_a_changed_value_in_the_file_is_noticed():
    data = spreads.read()
    notebook, keys = sorted(data.items())[0]
    key = sorted(keys)[0]
    keys[key]["0"] = keys[key].get("0", 0.0) + 0.001
    assert any(f"{notebook}: {key} is" in p for p in stale(data))
    del keys[key]["200"]
    assert f"{notebook}: {key} has values at seed offsets ['0', '100']" in stale(data)


def test_a_table_records_and_prints_each_value_with_its_range(clean_env, tmp_path, capsys):
    path = tmp_path / "spreads.json"
    path.write_text(json.dumps({"11_vae": {"a": {"100": 0.5, "200": 0.7}, "b": {"100": 2.0, "200": 1.0}}}))
    spread = spreads.SeedSpread("11_vae", path)
    spread.table([("first", "a", 0.6, ".2f"), None, ("second one", "b", 3.0, ".1f")])
    assert capsys.readouterr().out.splitlines() == [
        "            value  offsets 0/100/200",
        "first        0.60  0.50–0.70",
        "",
        "second one    3.0  1.0–3.0",
    ]

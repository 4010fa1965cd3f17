"""The `vit` command: instant help, validate's exit codes, stage commands through flows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flows.cli import main


def test_help_imports_nothing_heavy():
    code = (
        "import sys, flows.cli\n"
        "try:\n    flows.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'prefect', 'transformers', 'fiftyone', 'faiss', 'datasets',"
        " 'PIL', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    assert "generate" in out.stdout and "validate" in out.stdout


def _llava(tmp_path, items):
    from PIL import Image

    (tmp_path / "img").mkdir(exist_ok=True)
    Image.new("RGB", (32, 32), "red").save(tmp_path / "img" / "a.png")
    p = tmp_path / "data.json"
    p.write_text(json.dumps(items))
    return p


def test_validate_exit_codes_and_messages(tmp_path, capsys):
    good = {
        "id": "ok",
        "image": "img/a.png",
        "conversations": [
            {"from": "human", "value": "<image>\nHi"},
            {"from": "gpt", "value": "Red."},
        ],
    }
    assert main(["validate", str(_llava(tmp_path, [good]))]) == 0
    assert "OK" in capsys.readouterr().out
    missing = dict(good, id="gone", image="img/missing.png")
    twice = dict(
        good,
        id="two",
        conversations=[{"from": "human", "value": "<image><image>"}, {"from": "gpt", "value": "x"}],
    )
    assert main(["validate", str(_llava(tmp_path, [good, missing, twice]))]) == 1
    out = capsys.readouterr().out
    assert "gone" in out and "two" in out and "FAILED" in out


def test_validate_missing_path_is_a_clear_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_generate_ingest_export_commands(tmp_path, prefect_api, monkeypatch, capsys):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    raw, ds, out = tmp_path / "raw", tmp_path / "ds", tmp_path / "llava"
    assert (
        main(
            [
                "generate",
                "scenes",
                "--n",
                "20",
                "--size",
                "48",
                "--defect-rate",
                "0",
                "--out",
                str(raw),
            ]
        )
        == 0
    )
    assert main(["ingest", "--format", "vitflow", str(raw / "scenes.jsonl"), "--out", str(ds)]) == 0
    assert main(["export", "--format", "llava", str(ds), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["validate", str(out / "data.json")]) == 0

"""The startup benchmark's commands really synthesize (not its timings), and its output ends
with the key lines the issue asks for."""

import re
import subprocess

import numpy as np
import soundfile as sf

from espnet_mvc.benchmarks import startup


def test_startup_commands_synthesize_the_same_sentence(tmp_path):
    ref = str(sorted((startup.pretrained_dir("kokoro_en_mvc") / "heldout" / "ref").iterdir())[0])
    cmds = startup.commands("kokoro_en_mvc", ref, tmp_path)
    assert set(cmds) == {"cli", "espnet_text2speech", "import_torch"}
    for name in ("cli", "espnet_text2speech"):
        proc = subprocess.run(cmds[name], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    cli, fs = sf.read(tmp_path / "cli.wav")
    espnet, fs2 = sf.read(tmp_path / "espnet.wav")
    assert fs == fs2 == 24000
    # one short sentence: about a second of speech from each path, and not silence
    for wav in (cli, espnet):
        assert 0.5 < len(wav) / fs < 3.0
        assert np.sqrt(np.mean(wav ** 2)) > 0.01


def test_startup_output_keys(monkeypatch, capsys):
    times = iter([1.0, 2.0, 0.5] * 4)
    monkeypatch.setattr(startup, "run_once", lambda cmd, drop: next(times))
    assert startup.main(["--rounds", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].startswith("# cpu_capability: ")
    assert lines[-3:] == ["cli_cold_start_s: 1.00", "espnet_text2speech_cold_start_s: 2.00",
                          "import_torch_s: 0.50"]
    assert re.match(r"cli\s+1\.00\s+1\.00\s+1\.00$", next(ln for ln in lines
                                                          if ln.startswith("cli ")))

"""Built-in voices: a model's named reference clips (``voices/``), in every entry point.

With the shipped model (``kokoro_en_mvc``, its voices and OpenAI's names mapped onto them;
the names are read from its ``voices.json``, so the tests hold when the model is replaced
with other voices): the API speaks with the default voice when given neither a clip nor a voice and
says which; ``--voice`` and ``espnet-mvc voices`` on the command line; the server lists the
built-in voices beside stored ones and answers an OpenAI-shaped request with
``voice: "alloy"``; ``ship_model.py`` writes ``voices/`` from a data dir and keeps an
existing one; ``espnet_mvc.pretrained.voice_reference`` gives ``Text2Speech`` the same clip.
Synthesis uses 2 flow steps: these tests check which voice speaks, not how well.
"""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_mvc import pretrained
from espnet_mvc.bin.cli import build_parser, main as cli_main
from espnet_mvc.inference.builtin_voices import OPENAI_VOICES, BuiltinVoices

MODEL = "kokoro_en_mvc"
SHIPPED = pretrained.path(MODEL)
STEPS = 2
FS = 24000
INDEX = BuiltinVoices.find(pretrained.locate(MODEL))
DEFAULT = INDEX.default
OTHER = next(name for name in INDEX.names if name != DEFAULT)
ALLOY, ECHO = INDEX.aliases["alloy"], INDEX.aliases["echo"]


@pytest.fixture(scope="module")
def tts():
    import torch

    from espnet_mvc.api import MVCSynthesizer

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield MVCSynthesizer.from_pretrained(MODEL)
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------- index
def test_shipped_voices_index():
    assert len(INDEX.names) >= 2 and DEFAULT in INDEX.names
    assert set(INDEX.aliases) == set(OPENAI_VOICES)  # every OpenAI name speaks
    for name in INDEX.names:
        info = sf.info(str(INDEX.clip(name)))
        assert info.samplerate == FS and info.subtype == "PCM_16"
        assert 2.0 < info.duration <= 10.0 and INDEX.entries[name]["description"]


def test_bad_index_is_a_clear_error(tmp_path):
    d = tmp_path / "voices"
    d.mkdir()
    sf.write(d / "a.flac", np.zeros(FS), FS)
    for conf, match in [
        (dict(default="b", voices={"a": {"file": "a.flac"}}), "default voice 'b'"),
        (dict(default="a", voices={"a": {"file": "x.flac"}}), "not found"),
        (dict(default="a", voices={"a": {"file": "a.flac"}}, aliases={"alloy": "z"}),
         "names no voice"),
        (dict(default="a", voices={"a/b": {"file": "a.flac"}}), "invalid voice name"),
    ]:
        (d / "voices.json").write_text(json.dumps(conf))
        with pytest.raises(ValueError, match=match):
            BuiltinVoices.read(d)


# ---------------------------------------------------------------------------------- API
def test_default_voice_is_used_and_reported(tts):
    assert tts.default_voice == DEFAULT
    assert tts.voices["alloy"] == tts.voices[ALLOY] == INDEX.clip(ALLOY)
    assert set(tts.voices) == set(INDEX.names) | set(OPENAI_VOICES)
    res = tts.synthesize("Hello.", n_timesteps=STEPS)
    assert res.voice == DEFAULT and res.seconds > 0.3
    # the same audio as the clip given by hand, which is reported as no built-in voice
    by_ref = tts.synthesize("Hello.", ref=tts.voices[DEFAULT], n_timesteps=STEPS)
    assert by_ref.voice is None
    np.testing.assert_array_equal(res.wav, by_ref.wav)
    # an alias is its voice; another voice speaks differently
    assert tts.synthesize("Hello.", voice="alloy", n_timesteps=STEPS).voice == ALLOY
    other = tts.synthesize("Hello.", voice=OTHER, n_timesteps=STEPS)
    assert other.voice == OTHER and not np.array_equal(other.wav[:2000], res.wav[:2000])
    assert tts.info()["default_voice"] == DEFAULT


def test_voice_in_long_form_and_streaming(tts):
    long = tts.synthesize_long("Hello there. Good bye.", voice="echo", progress=False,
                               n_timesteps=STEPS)
    assert long.voice == ECHO and long.extra["phrases"] == 2
    pieces = list(tts.stream_long("Hello there. Good bye.", voice="echo", chunked=False,
                                  n_timesteps=STEPS))
    np.testing.assert_array_equal(np.concatenate(pieces), long.wav)
    chunks = list(tts.stream("Hello.", voice=OTHER, n_timesteps=STEPS))
    assert sum(len(c) for c in chunks) > FS // 4


def test_voice_errors(tts):
    with pytest.raises(ValueError, match=f"unknown voice 'bob'; this model's voices: "
                                         f"{', '.join(INDEX.names)} \\(aliases: alloy, ash"):
        tts.synthesize("Hello.", voice="bob")
    with pytest.raises(ValueError, match="not both"):
        tts.synthesize("Hello.", ref=tts.voices[DEFAULT], voice=OTHER)
    with pytest.raises(ValueError, match="unknown voice 'bob'"):
        tts.stream_long("Hello.", voice="bob")  # checked before any audio


def test_archive_with_and_without_voices_beside_it(tmp_path):
    from espnet_mvc.api import MVCSynthesizer

    for f in ("packed.zip", "vocoder.pth", "vocoder.yaml"):
        shutil.copy(SHIPPED / f, tmp_path / f)
    bare = MVCSynthesizer.from_pretrained(tmp_path / "packed.zip")
    assert bare.default_voice is None and bare.voices == {}
    with pytest.raises(ValueError, match="give a reference clip"):
        bare.synthesize("Hello.", n_timesteps=STEPS)  # as before built-in voices
    with pytest.raises(ValueError, match="no built-in voices"):
        bare.synthesize("Hello.", voice=DEFAULT)
    shutil.copytree(SHIPPED / "voices", tmp_path / "voices")
    beside = MVCSynthesizer.from_pretrained(tmp_path / "packed.zip")
    assert beside.default_voice == DEFAULT and beside.voices["nova"].parent == tmp_path / "voices"


# ---------------------------------------------------------------------------------- ESPnet
def test_voice_reference_for_text2speech(tts):
    wave, fs = pretrained.voice_reference(MODEL)
    assert fs == FS and wave.dtype == np.float32
    np.testing.assert_array_equal(wave, tts.voice_reference(DEFAULT))  # what synth uses
    alloy, _ = pretrained.voice_reference(SHIPPED, voice="alloy")  # a directory, an alias
    np.testing.assert_array_equal(alloy, tts.voice_reference(ALLOY))
    w16, fs16 = pretrained.voice_reference(MODEL, voice=OTHER, fs=16000)
    assert fs16 == 16000 and abs(len(w16) / 16000 - len(tts.voice_reference(OTHER)) / FS) < 0.05
    # as Text2Speech takes it (speech=): the model gives the default voice's audio
    res = tts.synthesize("Hello.", n_timesteps=STEPS)
    out = tts.t2s(tts.text_to_ids("Hello."), speech=__import__("torch").from_numpy(wave),
                  decode_conf=dict(n_timesteps=STEPS, seed=0))
    np.testing.assert_array_equal(out["wav"].numpy().reshape(-1), res.wav)
    with pytest.raises(ValueError, match="unknown voice"):
        pretrained.voice_reference(MODEL, voice="bob")


# ---------------------------------------------------------------------------------- CLI
def test_cli_synth_without_ref_speaks_the_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert "--voice" in build_parser()._subparsers._group_actions[0].choices["synth"].format_help()
    # issue 25's "done when": no --ref, no --voice, no --out
    assert cli_main(["synth", "--model", MODEL, "--text", "Hello."]) == 0
    err = capsys.readouterr().err
    assert f"voice: {DEFAULT} (the model's default; --voice or --ref to choose)" in err
    wav, fs = sf.read(tmp_path / "out.wav")
    assert fs == FS and len(wav) > FS // 4 and np.abs(wav).max() > 0.01
    assert cli_main(["synth", "--model", MODEL, "--text", "Hello.", "--voice", "echo",
                     "--steps", str(STEPS), "--out", "echo.wav"]) == 0
    assert f"voice: {ECHO} (echo is {ECHO})" in capsys.readouterr().err
    assert cli_main(["synth", "--model", MODEL, "--text", "Hello.", "--voice", "bob"]) == 2
    err = capsys.readouterr().err
    assert f"unknown voice 'bob'; this model's voices: {INDEX.names[0]}, " in err


def test_cli_voices_lists_voices_and_aliases(capsys):
    assert cli_main(["voices", "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert f"* {DEFAULT} " in out and f"  {OTHER} " in out and f"alloy={ALLOY}" in out
    assert cli_main(["voices", "--model", MODEL, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["default"] == DEFAULT and listed["aliases"]["echo"] == ECHO
    assert [v["name"] for v in listed["voices"] if v["default"]] == [DEFAULT]
    assert cli_main(["voices", "--model", str(SHIPPED / "heldout")]) == 2
    assert "has no built-in voices" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- server
def test_server_built_in_voices_and_openai_names(tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from espnet_mvc.server.launch import ServerProcess

    args = ["--workers", "1", "--threads", "1", "--log-level", "warning"]
    with ServerProcess(MODEL, tmp_path / "voices", args) as srv:
        # an unmodified OpenAI client: model, input and voice, a bearer token, no extras
        openai = {"model": "tts-1", "input": "Hello.", "voice": "alloy"}
        status, headers, data = srv.request("POST", "/v1/audio/speech", openai,
                                            {"Authorization": "Bearer sk-none"})
        assert status == 200, data
        assert headers["x-voice"] == ALLOY
        wav, sr = sf.read(io.BytesIO(data))
        assert sr == FS and len(wav) > FS // 4
        speech = dict(input="Hi.", steps=STEPS, seed=0)
        status, headers, _ = srv.request("POST", "/v1/audio/speech", speech)  # no voice
        assert status == 200 and headers["x-voice"] == DEFAULT
        status, _, other = srv.request("POST", "/v1/audio/speech", dict(speech, voice=OTHER))
        assert status == 200
        status, _, data = srv.request("POST", "/v1/audio/speech", dict(speech, voice="bob"))
        assert status == 404
        assert f"built-in voices: {INDEX.names[0]}, " in json.loads(data)["error"]["message"]

        status, listed = srv.json("GET", "/v1/voices")
        assert status == 200 and listed["default"] == DEFAULT
        built_in = {v["name"]: v for v in listed["data"] if v["built_in"]}
        assert sorted(built_in) == INDEX.names
        assert built_in[DEFAULT]["default"] and "alloy" in built_in[ALLOY]["aliases"]
        assert built_in[OTHER]["description"] and not built_in[OTHER]["shadowed"]

        # a stored voice of a built-in name takes its place until it is deleted
        status, _, data = srv.request("POST", f"/v1/voices?name={OTHER}",
                                      INDEX.clip(DEFAULT).read_bytes(),
                                      {"Content-Type": "audio/flac"})
        assert status == 201, data
        status, listed = srv.json("GET", "/v1/voices")
        both = [(v["built_in"], v.get("shadowed")) for v in listed["data"] if v["name"] == OTHER]
        assert both == [(True, True), (False, None)]
        status, headers, stored = srv.request("POST", "/v1/audio/speech",
                                              dict(speech, voice=OTHER))
        assert status == 200 and headers["x-voice"] == OTHER and stored != other
        assert srv.json("DELETE", f"/v1/voices/{OTHER}")[0] == 200
        status, _, again = srv.request("POST", "/v1/audio/speech", dict(speech, voice=OTHER))
        assert status == 200 and again == other
        status, body = srv.json("DELETE", f"/v1/voices/{OTHER}")  # the built-in one stays
        assert status == 409 and body["error"]["code"] == "builtin_voice"
        health = srv.json("GET", "/health")[1]
        assert health["builtin_voices"] == len(INDEX.names)
        assert health["requests"]["failed"] == 0


# ---------------------------------------------------------------------------------- shipping
def _tone(seconds, fs, f0):
    t = np.arange(int(seconds * fs)) / fs
    return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def _data_dir(d: Path, utts):
    """A Kaldi data dir of (utt, spk, seconds, fs, channels) tones."""
    d.mkdir(parents=True)
    wav_scp, utt2spk, text, ref = [], [], [], []
    for utt, spk, seconds, fs, channels in utts:
        x = _tone(seconds, fs, 150.0)
        path = d / "wav" / f"{utt}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x, fs)
        wav_scp.append(f"{utt} {path}")
        utt2spk.append(f"{utt} {spk}")
        text.append(f"{utt} hello")
        ref.append(f"{utt} {path}")
    for name, lines in (("wav.scp", wav_scp), ("utt2spk", utt2spk), ("text", text),
                        ("ref.scp", ref)):
        (d / name).write_text("\n".join(lines) + "\n")
    return d


def test_ship_model_writes_and_keeps_voices(tmp_path, capsys):
    from espnet_mvc.recipe import ship_model

    train = _data_dir(tmp_path / "train", [
        ("a_0", "spk_a", 2.0, 16000, 1),   # too short
        ("a_1", "spk_a", 5.0, 16000, 2),   # the one: 16 kHz stereo -> 24 kHz mono
        ("a_2", "spk_a", 4.0, 16000, 1),
        ("b_0", "spk_b", 12.0, 24000, 1),  # too long
        ("b_1", "spk_b", 3.5, 24000, 1),
        ("c_0", "spk_c", 4.0, 24000, 1),
    ])
    test = _data_dir(tmp_path / "test", [("t_0", "spk_a", 1.0, 24000, 1)])
    model = tmp_path / "exp"
    model.mkdir()
    for name in ("packed.zip", "vocoder.pth", "vocoder.yaml"):
        (model / name).write_bytes(b"x")
    common = ["--name", "m", "--packed", str(model / "packed.zip"),
              "--vocoder", str(model / "vocoder.pth"), "--seen", str(test),
              "--zeroshot", str(test), "--out-root", str(tmp_path / "shipped")]
    rc = ship_model.main(common + ["--voices-from", str(train), "--voice-names", "spk_a,spk_b",
                                   "--default-voice", "spk_b", "--voice-aliases",
                                   "alloy=spk_a,echo=spk_b"])
    assert rc == 0, capsys.readouterr().err
    voices = BuiltinVoices.read(tmp_path / "shipped/m/voices")
    assert voices.names == ["spk_a", "spk_b"] and voices.default == "spk_b"
    assert voices.aliases["alloy"] == "spk_a" and voices.aliases["echo"] == "spk_b"
    assert set(voices.aliases) == set(OPENAI_VOICES) and voices.aliases["nova"] == "spk_b"
    for name, seconds in (("spk_a", 5.0), ("spk_b", 3.5)):
        info = sf.info(str(voices.clip(name)))
        assert (info.samplerate, info.channels, info.subtype) == (FS, 1, "PCM_16")
        assert abs(info.duration - seconds) < 0.01
    assert "a_1" in voices.entries["spk_a"]["description"]
    # shipped again without --voices-from: voices/ is kept, as the model card is
    (tmp_path / "shipped/m/MODEL_CARD.md").write_text("card")
    assert ship_model.main(common) == 0
    assert BuiltinVoices.read(tmp_path / "shipped/m/voices").names == ["spk_a", "spk_b"]
    assert (tmp_path / "shipped/m/MODEL_CARD.md").read_text() == "card"
    # errors name what is wrong, and leave the shipped model as it was
    assert ship_model.main(common + ["--voices-from", str(train), "--voice-names", "spk_x"]) == 1
    assert "spk_x not in" in capsys.readouterr().err
    assert ship_model.main(common + ["--default-voice", "spk_a"]) == 1
    assert ship_model.main(common + ["--voices-from", str(test)]) == 1  # only a 1 s clip
    assert "no utterance of 3-10 s" in capsys.readouterr().err
    assert BuiltinVoices.read(tmp_path / "shipped/m/voices").names == ["spk_a", "spk_b"]

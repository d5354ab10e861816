"""The speech server (``espnet-mvc serve``), real and not mocked.

The server runs as a subprocess on 127.0.0.1 with the shipped model (``kokoro_en_mvc``,
4 M parameters) and is spoken to over TCP with the standard library's HTTP client. It runs
with two workers of one thread (requests are synthesized side by side), two active requests
and a queue of four, so that a burst of 32 requests fills the queue, and with small upload
limits so that the limits are cheap to hit. Requests use 2 flow steps: these tests check the server, not the voice.

The audio is compared with the Python API in this process (:meth:`MVCSynthesizer.stream_long`
with the server's options and the voice file the server stored).
"""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from espnet_mvc.server.launch import ServerProcess, multipart  # noqa: E402
from espnet_mvc.server.voices import VoiceStore  # noqa: E402

MODEL = "kokoro_en_mvc"
REF_DIR = Path(__file__).resolve().parents[1] / "espnet_mvc/pretrained/kokoro_en_mvc/heldout/ref"
FS = 24000
STEPS = 2
MAX_CHARS = 60
SERVER_ARGS = [
    "--workers", "2", "--threads", "1", "--max-active", "2", "--queue-size", "4",
    "--max-chars", str(MAX_CHARS), "--chunk", "0.5", "--first-chunk", "0.25",
    "--lookahead", "0.5",
    "--max-upload-mb", "1", "--max-ref-seconds", "10", "--log-level", "warning",
]
# two sentences: the server reads them phrase by phrase, as synthesize_long does
TEXT = "Hello there, this is a test. The server reads text phrase by phrase."
Q = 1.0 / 32767  # one step of the 16-bit output


def _speech(**kw):
    return dict(dict(voice="anna", steps=STEPS, seed=0), **kw)


def _error(status, data):
    body = json.loads(data)
    assert set(body) == {"error"}, body
    assert body["error"]["message"] and body["error"]["code"], body
    return body["error"]


def _wav_bytes(wav, fs=FS, fmt="WAV"):
    buf = io.BytesIO()
    sf.write(buf, np.asarray(wav, dtype=np.float32), fs, format=fmt)
    return buf.getvalue()


def _tone(seconds, fs=FS, f0=180.0):
    t = np.arange(int(seconds * fs)) / fs
    return 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    srv = ServerProcess(MODEL, root / "voices", SERVER_ARGS, log_path=root / "server.log")
    srv.start()
    try:
        body, ctype = multipart({"name": "anna"},
                                {"file": ("alpha.flac", (REF_DIR / "alpha.flac").read_bytes(),
                                          "audio/flac")})
        status, _, data = srv.request("POST", "/v1/voices", body, {"Content-Type": ctype})
        assert status == 201, data
        yield srv
    finally:
        srv.stop()
        print(srv.log_tail())


@pytest.fixture(scope="module")
def tts():
    import torch

    from espnet_mvc.inference.synthesizer import MVCSynthesizer

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the server runs (same float sums)
    try:
        yield MVCSynthesizer.from_pretrained(MODEL)
    finally:
        torch.set_num_threads(before)


def _voice(server):
    """The stored voice as the server reads it."""
    store = VoiceStore(server.voices_dir, FS)
    store.load_all()
    return (store.get("anna"), FS)


def _stored(voices):
    """Names of the stored voices in a /v1/voices answer (the built-in ones left out)."""
    return [v["name"] for v in voices["data"] if not v["built_in"]]


def _health(server):
    status, body = server.json("GET", "/health")
    assert status == 200
    return body


def _wait_idle(server, timeout=15.0):
    end = time.monotonic() + timeout
    while True:
        h = _health(server)
        if h["active"] == 0 and h["queued"] == 0 and h["busy_workers"] == 0:
            return h
        if time.monotonic() > end:
            raise AssertionError(f"server not idle after {timeout} s: {h}")
        time.sleep(0.1)


def test_health_models_and_voices(server):
    h = _health(server)
    assert h["status"] == "ok" and h["model"] == MODEL and h["sample_rate"] == FS
    assert h["workers"] == 2 and h["torch_threads"] == 1
    status, models = server.json("GET", "/v1/models")
    assert status == 200 and models["data"][0]["id"] == MODEL
    assert models["data"][0]["uses_reference_audio"] is True
    status, voices = server.json("GET", "/v1/voices")
    assert status == 200
    assert "anna" in _stored(voices)


def test_wav_pcm_flac_have_the_expected_length(server, tts):
    """Two phrases, read as synthesize_long reads them: same length, same samples."""
    opts = dict(ref=_voice(server), n_timesteps=STEPS, seed=0)
    long = tts.synthesize_long(TEXT, max_chars=MAX_CHARS, progress=False, **opts)
    assert long.extra["phrases"] == 2
    pieces = list(tts.stream_long(TEXT, max_chars=MAX_CHARS, chunked=False, **opts))
    np.testing.assert_array_equal(np.concatenate(pieces), long.wav)

    status, headers, data = server.request("POST", "/v1/audio/speech", _speech(input=TEXT))
    assert status == 200, data
    assert headers["content-type"] == "audio/wav"
    wav, sr = sf.read(io.BytesIO(data), dtype="float32")
    assert sr == FS
    assert len(wav) == len(long.wav)
    assert np.abs(wav - long.wav).max() < 1e-3

    for fmt in ("pcm", "flac"):
        status, headers, data = server.request(
            "POST", "/v1/audio/speech", _speech(input=TEXT, response_format=fmt))
        assert status == 200, data
        if fmt == "pcm":
            assert headers["content-type"].startswith("audio/L16")
            got = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767
        else:
            got, sr = sf.read(io.BytesIO(data), dtype="float32")
            assert sr == FS
        assert len(got) == len(long.wav), fmt
        assert np.abs(got - long.wav).max() < 1e-3, fmt


def _stream(server, payload):
    """POST a streaming request; returns (status, headers, [(seconds, bytes)], t_total)."""
    conn = server.connection()
    try:
        t0 = time.monotonic()
        conn.request("POST", "/v1/audio/speech", body=json.dumps(payload),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        reads = []
        while True:
            b = resp.read1(1 << 16)
            if not b:
                break
            reads.append((time.monotonic() - t0, b))
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, reads, \
            time.monotonic() - t0
    finally:
        conn.close()


def test_stream_first_chunk_early_and_same_audio_as_api(server, tts):
    text = "Streaming sends audio as soon as each chunk is ready, long before the end."
    status, headers, reads, total = _stream(
        server, _speech(input=text, stream=True, response_format="pcm"))
    assert status == 200, reads
    assert "content-length" not in headers  # chunked transfer: sent as it is made
    data = b"".join(b for _, b in reads)
    got = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767
    # the first audio arrives after one chunk of work, with most of the audio still to come
    first_t, first = reads[0]
    assert len(first) <= 2 * int(0.25 * FS), (len(first), len(data))  # the first chunk
    assert len(first) < 0.5 * len(data), (len(first), len(data))
    assert first_t < 0.5 * total, (first_t, total)
    assert len(reads) >= 4

    pieces = list(tts.stream_long(text, max_chars=MAX_CHARS, chunked=True, lookahead=0.5,
                                  chunk_seconds=0.5, first_chunk_seconds=0.25,
                                  ref=_voice(server), n_timesteps=STEPS, seed=0))
    want = np.concatenate(pieces)
    assert len(pieces) > 2
    assert len(got) == len(want)
    assert np.abs(got - want).max() < 1e-3

    # a streamed WAV: header of unknown length, then the same samples
    status, headers, reads, _ = _stream(
        server, _speech(input=text, stream=True, response_format="wav"))
    assert status == 200 and headers["content-type"] == "audio/wav"
    wav, sr = sf.read(io.BytesIO(b"".join(b for _, b in reads)), dtype="float32")
    assert sr == FS and len(wav) == len(want)


BAD_SPEECH = [
    # (request body or (raw bytes, content type), status, error code)
    (_speech(input=""), 422, "invalid_input"),
    (_speech(input="   \n\t  "), 422, "invalid_input"),
    (_speech(input="— –"), 422, "invalid_input"),  # no symbol the model knows
    (_speech(input="Hello there. — –"), 422, "invalid_input"),  # in a later phrase
    (_speech(input="Hi.", voice="nobody"), 404, "voice_not_found"),
    (_speech(input="Hi.", response_format="mp3"), 400, "invalid_request"),
    (_speech(input="Hi.", stream=True, response_format="flac"), 400, "unstreamable_format"),
    (_speech(input="Hi.", steps=1000), 400, "invalid_request"),
    (_speech(input="Hi.", speed=10), 400, "invalid_request"),
    (_speech(input=7), 400, "invalid_request"),
    (_speech(input="Hi.", inptu="typo"), 400, "invalid_request"),
    ((b"{not json", "application/json"), 400, "invalid_json"),
    ((b"[1, 2]", "application/json"), 400, "invalid_json"),
    ((b"input=Hi.", "text/plain"), 415, "unsupported_media_type"),
    (_speech(input="word " * 1000), 413, "input_too_long"),  # 5000 > 4096 characters
    (_speech(input="x" * 100_000), 413, "body_too_large"),  # body > 64 KiB
]


def test_bad_speech_requests_get_clear_4xx(server):
    for body, want_status, want_code in BAD_SPEECH:
        if isinstance(body, tuple):
            status, _, data = server.request("POST", "/v1/audio/speech", body[0],
                                             {"Content-Type": body[1]})
        else:
            status, _, data = server.request("POST", "/v1/audio/speech", body)
        assert status == want_status, (body if not isinstance(body, dict) else
                                       {k: str(v)[:40] for k, v in body.items()}, data)
        assert _error(status, data)["code"] == want_code, data
    status, _, data = server.request("GET", "/no/such/route")
    assert status == 404 and _error(status, data)["code"] == "not_found"
    # still serving
    status, _, data = server.request("POST", "/v1/audio/speech", _speech(input="Hi."))
    assert status == 200, data
    assert _health(server)["requests"]["failed"] == 0


def test_bad_references_get_clear_4xx(server):
    flac = (REF_DIR / "alpha.flac").read_bytes()
    rng = np.random.default_rng(0)
    garbled = flac[:100] + rng.integers(0, 256, len(flac) - 100, dtype=np.uint8).tobytes()
    cases = [
        # (name, body, content type, status, code)
        ("text", b"this is not audio at all", "application/octet-stream", 415,
         "unsupported_audio"),
        ("truncated", flac[:200], "audio/flac", 415, "corrupt_audio"),
        ("garbled", garbled, "audio/flac", 415, "corrupt_audio"),
        ("silent", _wav_bytes(np.zeros(2 * FS)), "audio/wav", 422, "invalid_reference"),
        ("short", _wav_bytes(_tone(0.2)), "audio/wav", 422, "invalid_reference"),
        ("long", _wav_bytes(_tone(12.0), fmt="FLAC"), "audio/flac", 413, "reference_too_long"),
        ("huge", os.urandom(2 * 1024 * 1024), "audio/wav", 413, "body_too_large"),
        ("bad/name", flac, "audio/flac", 400, "invalid_name"),
        ("", flac, "audio/flac", 400, "missing_name"),
    ]
    for name, body, ctype, want_status, want_code in cases:
        path = "/v1/voices" + (f"?name={name}" if name else "")
        status, _, data = server.request("POST", path, body, {"Content-Type": ctype})
        assert status == want_status, (name, data)
        err = _error(status, data)
        assert err["code"] == want_code, (name, err)
    # multipart without a file part; a silent clip uploaded the multipart way
    body, ctype = multipart({"name": "nofile"}, {})
    status, _, data = server.request("POST", "/v1/voices", body, {"Content-Type": ctype})
    assert status == 400 and _error(status, data)["code"] == "missing_file"
    body, ctype = multipart({"name": "quiet"},
                            {"file": ("q.wav", _wav_bytes(np.zeros(FS)), "audio/wav")})
    status, _, data = server.request("POST", "/v1/voices", body, {"Content-Type": ctype})
    assert status == 422 and "silent" in _error(status, data)["message"]
    # nothing was stored, and the server still speaks
    status, voices = server.json("GET", "/v1/voices")
    assert _stored(voices) == ["anna"]
    assert sorted(p.name for p in server.voices_dir.iterdir()) == ["anna.flac"]
    status, _, data = server.request("POST", "/v1/audio/speech", _speech(input="Hi."))
    assert status == 200, data
    assert _health(server)["requests"]["failed"] == 0


def test_32_concurrent_requests_all_succeed_or_get_429(server):
    n = 32
    barrier = threading.Barrier(n)
    results = [None] * n

    def client(i):
        payload = _speech(input="Hello.", stream=bool(i % 2),
                          response_format="pcm" if i % 2 else "wav")
        barrier.wait()
        t0 = time.monotonic()
        try:
            status, headers, data = server.request("POST", "/v1/audio/speech", payload,
                                                   timeout=300)
            results[i] = (status, headers, data, time.monotonic() - t0)
        except Exception as e:  # recorded: a lost request fails the test below
            results[i] = ("exception", repr(e), b"", time.monotonic() - t0)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    statuses = [r[0] for r in results if r is not None]
    assert len(statuses) == n, results
    assert set(statuses) <= {200, 429}, [(r[0], r[2][:200]) for r in results]
    ok = [r for r in results if r[0] == 200]
    busy = [r for r in results if r[0] == 429]
    assert ok and busy  # 2 active + 4 queued places for 32 requests
    assert len(ok) >= 6
    for status, headers, data, seconds in busy:
        assert int(headers["retry-after"]) >= 1
        assert _error(status, data)["code"] == "queue_full"
        assert seconds < 5.0  # at once, not after waiting for a place
    for i, (status, headers, data, _) in enumerate(results):
        if status == 200:
            n_samples = (len(data) - (0 if i % 2 else 44)) // 2
            assert n_samples > FS // 4, i  # "Hello." is longer than 0.25 s
    h = _wait_idle(server)
    assert h["requests"]["failed"] == 0


_KILLED_CLIENT = textwrap.dedent("""
    import http.client, json, sys, time
    conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=600)
    conn.request("POST", "/v1/audio/speech", body=sys.argv[2],
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    resp.read1(1 << 16)
    print("first chunk", flush=True)
    time.sleep(600)  # never reads on: killed here
""")


def test_client_killed_mid_stream_frees_its_worker(server):
    _wait_idle(server)
    before = _health(server)["requests"]
    text = " ".join(f"This is sentence number {i} of a long text that takes a while to read."
                    for i in range(40))  # about three minutes of audio
    payload = json.dumps(_speech(input=text, stream=True, response_format="pcm"))
    client = subprocess.Popen([sys.executable, "-c", _KILLED_CLIENT, str(server.port), payload],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "first chunk"
        h = _health(server)
        assert h["active"] == 1, h
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait()
    t0 = time.monotonic()
    h = _wait_idle(server, timeout=20)
    freed_s = time.monotonic() - t0
    assert freed_s < 20
    # stopped, not finished: counted as cancelled, not as a completed request
    assert h["requests"]["cancelled"] == before["cancelled"] + 1, (before, h["requests"])
    assert h["requests"]["ok"] == before["ok"]
    status, _, data = server.request("POST", "/v1/audio/speech", _speech(input="Hi."))
    assert status == 200, data


def test_voices_survive_a_restart(server):
    flac = (REF_DIR / "gongitsune.flac").read_bytes()
    status, _, data = server.request("POST", "/v1/voices?name=gon", flac,
                                     {"Content-Type": "audio/flac"})
    assert status == 201, data
    assert json.loads(data)["name"] == "gon"
    status, _, data = server.request("POST", "/v1/voices?name=gone", flac,
                                     {"Content-Type": "audio/flac"})
    assert status == 201, data
    status, body = server.json("DELETE", "/v1/voices/gone")
    assert status == 200 and body["deleted"] is True
    status, _, data = server.request("DELETE", "/v1/voices/gone")
    assert status == 404

    server.restart()

    status, voices = server.json("GET", "/v1/voices")
    assert sorted(_stored(voices)) == ["anna", "gon"]
    # written atomically: no temporary files left behind
    assert sorted(p.name for p in server.voices_dir.iterdir()) == ["anna.flac", "gon.flac"]
    status, _, data = server.request("POST", "/v1/audio/speech", _speech(input="Hi.", voice="gon"))
    assert status == 200, data
    wav, sr = sf.read(io.BytesIO(data))
    assert sr == FS and len(wav) > FS // 4

"""``espnet-mvc``: synthesize with a trained MVC model, or describe one.

    espnet-mvc synth --model kokoro_en_mvc --text "Hello."              (the default voice)
    espnet-mvc synth --model kokoro_en_mvc --text "Hello." --voice kumo --out o.wav
    espnet-mvc synth --model exp/tts_mvc/packed.zip --text "Hello." --ref voice.wav --out o.wav
    espnet-mvc synth --model exp/tts_mvc --text-file chapter.txt --out chapter.wav
    espnet-mvc voices --model kokoro_en_mvc
    espnet-mvc synth --model M --text "Hola." --lang es --stream --lookahead 0.5 --out o.wav
    espnet-mvc info --model exp/tts_mvc/packed.zip
    espnet-mvc serve --model kokoro_en_mvc --port 8000      (needs the 'serve' extra)
    espnet-mvc export --onnx exported/ --model kokoro_en_mvc
    espnet-mvc synth --backend onnx --model exported/ --text "Hello."  (no PyTorch)
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import List, Optional


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True,
        help="packed model (.zip/.tar.gz from stage 9), an exp/<tag> directory with "
             "config.yaml and a checkpoint, or a config.yaml beside its weights",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="espnet-mvc",
        description="MambaVoiceCloning (ESPnet plugin): synthesis and model information.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "synth", help="synthesize speech",
        description="Synthesize text to a WAV file. Long text (a text file or more than "
                    "--max-chars characters) is split into phrases and written as it is "
                    "made, so memory does not grow with its length.",
    )
    _add_model(s)
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="text to speak")
    src.add_argument("--text-file", type=Path, help="UTF-8 text file to speak (any length)")
    s.add_argument("--out", type=Path, default=Path("out.wav"),
                   help="output WAV path (default out.wav)")
    voice = s.add_mutually_exclusive_group()
    voice.add_argument("--ref", type=Path,
                       help="reference clip of the voice to clone (any sample rate/channels; "
                            "at least 0.5 s of sound)")
    voice.add_argument("--voice",
                       help="a built-in voice of the model, or an OpenAI voice name mapped "
                            "onto one (espnet-mvc voices --model M lists them); with neither "
                            "--ref nor --voice the model's default voice speaks")
    s.add_argument("--lang", help="language of the text, e.g. en-us, es, de, fr")
    s.add_argument("--speaker", help="speaker name or id (multi-speaker models)")
    # the decode options, with their defaults and help, come from DecodeOptions
    from espnet_mvc.tts.mvc.decode_options import DecodeOptions

    DecodeOptions.add_arguments(s, DecodeOptions.names(),
                                flags=dict(n_timesteps="--steps", alpha="--rate"))
    s.add_argument("--stream", action="store_true",
                   help="stream: write audio chunk by chunk as it is generated")
    s.add_argument("--chunk", type=float, default=0.25,
                   help="streaming chunk length in seconds (default 0.25)")
    s.add_argument("--max-chars", type=int, default=200,
                   help="longest phrase of long-form text, in characters and in phonemes: text "
                        "without breaks is cut by phonemes (default 200)")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                   help="torch (default): PyTorch + ESPnet; onnx: onnxruntime + numpy only, "
                        "--model is then a directory written by 'espnet-mvc export --onnx' "
                        "(--stream then streams phrase by phrase)")
    s.add_argument("--threads", type=int, default=None,
                   help="onnx backend: onnxruntime threads (default: one per core)")

    i = sub.add_parser("info", help="describe a model (sizes, sample rate, languages, speakers)")
    _add_model(i)
    i.add_argument("--json", action="store_true", help="print JSON")

    vs = sub.add_parser("voices", help="list a model's built-in voices and their aliases",
                        description="List the built-in voices of a model (name, description, "
                                    "the default marked with *) and the aliases (OpenAI's "
                                    "voice names) mapped onto them.")
    _add_model(vs)
    vs.add_argument("--json", action="store_true", help="print JSON")

    e = sub.add_parser(
        "export", help="export a model for onnxruntime (synth --backend onnx)",
        description="Export an MVC model and its vocoder to ONNX graphs plus model.json "
                    "(token list, features, decode defaults, built-in voices), for "
                    "'espnet-mvc synth --backend onnx' and espnet_mvc.onnx_runtime, which "
                    "run without PyTorch and ESPnet.",
    )
    _add_model(e)
    e.add_argument("--onnx", type=Path, required=True, help="output directory")

    v = sub.add_parser(
        "serve", help="run a speech server (HTTP, OpenAI-shaped /v1/audio/speech)",
        description="Serve a model over HTTP: POST /v1/audio/speech (OpenAI's shape plus "
                    "steps, temperature and seed; stream: true sends audio chunk by chunk), "
                    "voices from reference clips at /v1/voices, GET /health and /v1/models. "
                    "Needs the 'serve' extra: pip install 'espnet-mvc[serve]'.",
    )
    _add_model(v)
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1; 0.0.0.0 exposes the server to the network)")
    v.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    v.add_argument("--workers", type=int, default=None,
                   help="synthesis threads (default: min(cores, --max-active))")
    v.add_argument("--threads", type=int, default=None,
                   help="torch threads per worker (default: cores // workers)")
    v.add_argument("--max-active", type=int, default=8,
                   help="requests synthesized at once, their chunks interleaved on the "
                        "workers (default 8)")
    v.add_argument("--queue-size", type=int, default=16,
                   help="requests allowed to wait for a place; more get 429 (default 16)")
    v.add_argument("--voices-dir", type=Path, default=None,
                   help="where voices are kept (default ~/.cache/espnet_mvc/voices, or "
                        "$ESPNET_MVC_CACHE/voices)")
    v.add_argument("--max-input-chars", type=int, default=4096,
                   help="longest input text per request (default 4096)")
    v.add_argument("--max-upload-mb", type=float, default=16.0,
                   help="largest reference upload in MiB (default 16)")
    v.add_argument("--max-ref-seconds", type=float, default=30.0,
                   help="longest reference clip in seconds (default 30)")
    v.add_argument("--max-steps", type=int, default=32,
                   help="largest 'steps' a request may ask for (default 32)")
    v.add_argument("--request-timeout", type=float, default=300.0,
                   help="seconds a request may take, queue included (default 300)")
    v.add_argument("--body-timeout", type=float, default=10.0,
                   help="seconds a request body may stall (no bytes arriving) before the "
                        "server answers 408 and closes the connection (default 10)")
    DecodeOptions.add_arguments(v, ["lookahead"])  # declared once, as for synth
    v.add_argument("--chunk", type=float, default=1.0,
                   help="streaming chunk length in seconds after the first (default 1.0)")
    v.add_argument("--first-chunk", type=float, default=0.25,
                   help="first streamed chunk in seconds: the first audio comes after it "
                        "(default 0.25)")
    v.add_argument("--max-chars", type=int, default=200,
                   help="longest phrase of long input, in characters and in phonemes (default 200)")
    v.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"])
    return parser


def _synth(args) -> int:
    import soundfile as sf

    if args.text is not None:
        text = args.text
    else:
        if not args.text_file.is_file():
            raise ValueError(f"--text-file {args.text_file}: file not found")
        text = args.text_file.read_text(encoding="utf-8")
    from espnet_mvc.tts.mvc.decode_options import DecodeOptions

    options = DecodeOptions.from_args(args)  # checked before the model loads
    if args.backend == "onnx":
        from espnet_mvc.onnx_runtime import OnnxSynthesizer

        if not Path(args.model).is_dir():
            raise ValueError(f"--backend onnx: --model {args.model} is not a directory; "
                             f"export one first: espnet-mvc export --onnx DIR --model "
                             f"{args.model}")
        tts = OnnxSynthesizer(args.model, threads=args.threads)
    else:
        from espnet_mvc.inference.synthesizer import MVCSynthesizer

        tts = MVCSynthesizer.from_pretrained(args.model, device=args.device)
    opts = dict(ref=args.ref, voice=args.voice, lang=args.lang, speaker=args.speaker,
                options=options)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    voice = tts.choose_voice(ref=args.ref, voice=args.voice)  # checked before synthesis
    if voice is not None:
        how = (f"{args.voice} is {voice}" if args.voice not in (None, voice) else
               "the model's default; --voice or --ref to choose" if args.voice is None else
               "built-in")
        print(f"voice: {voice} ({how})", file=sys.stderr)
    if args.stream:
        start = time.perf_counter()
        first, samples = None, 0
        with sf.SoundFile(str(args.out), "w", tts.fs, 1, "PCM_16") as f:
            chunks = (tts.stream_long(text, max_chars=args.max_chars, **opts)
                      if args.backend == "onnx" else
                      tts.stream(text, chunk_seconds=args.chunk, **opts))
            for chunk in chunks:
                if first is None:
                    first = time.perf_counter() - start
                f.write(chunk)
                samples += len(chunk)
        total = time.perf_counter() - start
        log(f"first chunk after {first * 1000:.0f} ms; RTF {total / max(samples / tts.fs, 1e-9):.3f}")
    elif args.text_file is not None or len(text) > args.max_chars:
        res = tts.synthesize_long(text, out_path=args.out, max_chars=args.max_chars,
                                  progress=not args.quiet, **opts)
        log(f"{res.extra['phrases']} phrases, {res.extra['samples'] / res.fs:.1f} s; "
            f"RTF {res.rtf:.3f}")
    else:
        res = tts.synthesize(text, **opts)
        sf.write(str(args.out), res.wav, res.fs, subtype="PCM_16")
        log(f"{res.seconds:.2f} s of audio in {res.elapsed:.2f} s (RTF {res.rtf:.3f})")
    log(f"wrote {args.out}")
    return 0


def _info(args) -> int:
    from espnet_mvc.inference.synthesizer import MVCSynthesizer

    info = MVCSynthesizer.from_pretrained(args.model, device=args.device).info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k}: {v}")
    return 0


def _voices(args) -> int:
    from espnet_mvc import pretrained
    from espnet_mvc.inference.builtin_voices import (
        VOICES_JSON, BuiltinVoices, describe_voices, voices_dir_of,
    )

    exported = Path(args.model) / "model.json"
    if exported.is_file():  # an ONNX export (espnet-mvc export --onnx): voices in model.json
        meta = json.loads(exported.read_text(encoding="utf-8"))
        if not meta.get("voices"):
            raise ValueError(f"{args.model} has no built-in voices: give a reference clip "
                             f"with synth --ref")
        default, aliases = meta.get("default_voice"), meta.get("voice_aliases") or {}
        rows = describe_voices(meta["voices"], default, aliases)
    else:
        if not Path(args.model).exists():
            try:
                pretrained.path(args.model)
            except KeyError as e:
                raise ValueError(f"model {args.model}: no such file, directory or {e.args[0]}")
        model = pretrained.locate(args.model)
        voices = BuiltinVoices.find(model)  # the index only: no weights are loaded
        if voices is None:
            raise ValueError(f"{args.model} has no built-in voices (no "
                             f"{voices_dir_of(model) / VOICES_JSON}): give a reference "
                             f"clip with synth --ref")
        rows, default, aliases = voices.describe(), voices.default, voices.aliases
    if args.json:
        print(json.dumps(dict(default=default, voices=rows, aliases=aliases), indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        mark = "*" if r["default"] else " "
        print(f"{mark} {r['name']:<{width}}  {r['description']}")
    print("(* the default voice, used when neither --voice nor --ref is given)")
    if aliases:
        print("aliases: " + ", ".join(f"{a}={t}" for a, t in sorted(aliases.items())))
    return 0


def _export(args) -> int:
    from espnet_mvc.export.onnx import export_onnx

    meta = export_onnx(args.model, args.onnx)
    graphs = sorted(p.name for p in args.onnx.glob("*.onnx"))
    print(f"wrote {args.onnx}: {', '.join(graphs)}, model.json "
          f"({len(meta['voices'])} built-in voices) in {meta['export_seconds']:.1f} s",
          file=sys.stderr)
    return 0


def _serve(args) -> int:
    from espnet_mvc.server import ServerConfig, serve

    serve(ServerConfig(
        model=args.model, host=args.host, port=args.port, device=args.device,
        workers=args.workers, threads=args.threads, max_active=args.max_active,
        queue_size=args.queue_size, voices_dir=args.voices_dir,
        max_input_chars=args.max_input_chars,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_ref_seconds=args.max_ref_seconds, max_steps=args.max_steps,
        request_timeout=args.request_timeout, body_timeout=args.body_timeout,
        lookahead=args.lookahead, chunk=args.chunk,
        first_chunk=args.first_chunk, max_chars=args.max_chars, log_level=args.log_level,
    ))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # OpenMP's busy-waiting makes threads crawl on shared cores (one short sentence: 5.7 s
    # against 0.15 s on a busy 2-core machine); libgomp reads this when torch is first
    # imported, which is after this line
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    commands = {"synth": _synth, "info": _info, "voices": _voices, "serve": _serve,
                "export": _export}
    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"espnet-mvc: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

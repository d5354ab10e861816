"""Load benchmark of the speech server: first-audio latency of streamed requests under load.

    python -m espnet_mvc.bin.benchmark serve [--quick] [--clients 8] [--requests 10]

Starts the real server (``espnet-mvc serve``, the shipped model by default) as a subprocess
on 127.0.0.1 with a voice made from a held-out reference clip, then runs ``--clients``
client threads, each making ``--requests`` streamed requests one after the other (bounded
loops; ``--quick``: 3 each). Every request is ``POST /v1/audio/speech`` with ``stream: true``
and ``response_format: pcm``, so the first body bytes are audio.

First audio: wall time from sending a request to receiving its first audio bytes, queueing
in the server included. A 429 answer is counted apart (``serve_requests_rejected``; that
client then waits ``Retry-After``, at most 5 s, and goes on with its next request); any
other status, a transport error or an empty or odd-sized body is a failure.

Last lines:
    serve_p50_first_audio_ms: X
    serve_p95_first_audio_ms: Y
    serve_requests_ok: N
    serve_requests_failed: F

Targets (2 cores, shipped model, 8 clients, streaming): p95 first audio <= 1000 ms, no
failures. Timing on a shared machine says as much about the other load as about the
server: the header line prints the load average beside the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

DEFAULT_MODEL = "kokoro_en_mvc"
DEFAULT_TEXT = ("Streaming speech arrives chunk by chunk, so the listener hears the start "
                "right away.")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m espnet_mvc.bin.benchmark serve", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="3 requests per client (default 10)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name, archive or exp dir")
    p.add_argument("--ref", type=Path, default=None,
                   help="reference clip of the voice (default: a held-out clip of the model)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--requests", type=int, default=None, help="requests per client")
    p.add_argument("--text", default=DEFAULT_TEXT, help="what every request says")
    p.add_argument("--steps", type=int, default=None, help="flow steps (default: the model's)")
    p.add_argument("--server-args", default="",
                   help="more `espnet-mvc serve` options, e.g. '--workers 2 --threads 1'")
    p.add_argument("--timeout", type=float, default=300.0, help="client timeout per request")
    p.add_argument("--out-dir", type=Path, default=Path("bench_out"))
    return p.parse_args(argv)


def _default_ref(model: str) -> Path:
    from espnet_mvc import pretrained

    refs = sorted((pretrained.path(model) / "heldout" / "ref").glob("*.flac"))
    if not refs:
        raise SystemExit(f"{model}: no held-out reference clips; pass --ref")
    return refs[0]


def _one_request(srv, payload: bytes, timeout: float) -> Dict[str, object]:
    """One streamed request: status, first-audio ms, audio bytes, total ms."""
    conn = srv.connection(timeout)
    t0 = time.perf_counter()
    try:
        conn.request("POST", "/v1/audio/speech", body=payload,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            body = resp.read()
            return dict(status=resp.status, retry_after=resp.getheader("Retry-After"),
                        error=body[:300].decode(errors="replace"))
        first_ms, n = None, 0
        while True:
            b = resp.read1(1 << 16)
            if not b:
                break
            if first_ms is None:
                first_ms = 1e3 * (time.perf_counter() - t0)
            n += len(b)
        return dict(status=200, first_ms=first_ms, bytes=n,
                    total_ms=1e3 * (time.perf_counter() - t0))
    except Exception as e:  # a transport error is a failed request
        return dict(status="error", error=repr(e))
    finally:
        conn.close()


def _client(srv, payload: bytes, n: int, timeout: float, out: List[dict]) -> None:
    for _ in range(n):
        r = _one_request(srv, payload, timeout)
        out.append(r)
        if r["status"] == 429:
            try:
                wait = float(r.get("retry_after") or 1)
            except ValueError:
                wait = 1.0
            time.sleep(min(wait, 5.0))


def _is_ok(r: dict) -> bool:
    return (r["status"] == 200 and r.get("first_ms") is not None and r["bytes"] > 0
            and r["bytes"] % 2 == 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from espnet_mvc.benchmarks.machine import cpu_capability
    from espnet_mvc.server.launch import ServerProcess
    from espnet_mvc.server.server_config import available_cores

    n_req = args.requests or (3 if args.quick else 10)
    ref = args.ref or _default_ref(args.model)
    server_args = args.server_args.split() + ["--max-active", str(max(8, args.clients)),
                                              "--log-level", "warning"]
    print(f"# serve benchmark: model {args.model}; {args.clients} clients x {n_req} streamed "
          f"requests (pcm), steps {args.steps or 'default'}; cpu_capability: "
          f"{cpu_capability()}; cores {available_cores()}; load "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="espnet_mvc_serve_bench_") as tmp:
        srv = ServerProcess(args.model, Path(tmp) / "voices", server_args,
                            log_path=Path(tmp) / "server.log")
        t0 = time.perf_counter()
        try:
            srv.start()
            status, health = srv.json("GET", "/health")
            print(f"# server up in {time.perf_counter() - t0:.1f} s: workers "
                  f"{health['workers']} x {health['torch_threads']} torch threads, max active "
                  f"{health['max_active']}, queue {health['queue_size']}", flush=True)
            status, _, data = srv.request("POST", "/v1/voices?name=bench", ref.read_bytes(),
                                          {"Content-Type": "application/octet-stream"})
            if status != 201:
                raise SystemExit(f"voice upload failed ({status}): {data[:300]!r}")
            payload = json.dumps(dict(input=args.text, voice="bench", stream=True,
                                      response_format="pcm", steps=args.steps)).encode()
            warm = _one_request(srv, payload, args.timeout)  # first call: allocations
            print(f"# voice 'bench' from {ref.name}; warm-up request: status {warm['status']}, "
                  f"first audio {warm.get('first_ms') or float('nan'):.0f} ms", flush=True)

            per_client: List[List[dict]] = [[] for _ in range(args.clients)]
            threads = [threading.Thread(target=_client,
                                        args=(srv, payload, n_req, args.timeout, out))
                       for out in per_client]
            t_run = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            run_s = time.perf_counter() - t_run
            _, health = srv.json("GET", "/health")
        finally:
            srv.stop()
            log_tail = srv.log_tail()

    results = [r for rs in per_client for r in rs]
    ok = [r for r in results if _is_ok(r)]
    rejected = [r for r in results if r["status"] == 429]
    failed = [r for r in results if not _is_ok(r) and r["status"] != 429]
    firsts = [r["first_ms"] for r in ok]
    audio_s = sum(r["bytes"] for r in ok) / 2 / health["sample_rate"]
    print("# client  ok  429  failed  first_audio_ms (each request)")
    for i, rs in enumerate(per_client):
        print(f"# {i:>6} {sum(_is_ok(r) for r in rs):>3} "
              f"{sum(r['status'] == 429 for r in rs):>4} "
              f"{sum(not _is_ok(r) and r['status'] != 429 for r in rs):>7}  "
              + " ".join(f"{r['first_ms']:.0f}" if _is_ok(r) else str(r["status"]) for r in rs))
    for r in failed[:5]:
        print(f"# failed: {r}")
    if failed:
        print("# server log tail:\n" + "\n".join("#   " + ln for ln in log_tail.splitlines()))
    p50 = float(np.percentile(firsts, 50)) if firsts else float("nan")
    p95 = float(np.percentile(firsts, 95)) if firsts else float("nan")
    if ok:
        total = [r["total_ms"] for r in ok]
        print(f"# first audio ms: min {min(firsts):.0f}, p50 {p50:.0f}, p95 {p95:.0f}, max "
              f"{max(firsts):.0f}; whole request ms p50 {statistics.median(total):.0f}; "
              f"{audio_s:.1f} s of audio in {run_s:.1f} s (aggregate RTF "
              f"{run_s / max(audio_s, 1e-9):.3f}); server counters {health['requests']}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "serve_results.json").write_text(json.dumps(dict(
        model=args.model, clients=args.clients, requests_per_client=n_req, text=args.text,
        steps=args.steps, server_args=server_args, cpu_capability=cpu_capability(),
        load=os.getloadavg()[0], run_s=run_s, audio_s=audio_s, p50_first_audio_ms=p50,
        p95_first_audio_ms=p95, ok=len(ok), rejected=len(rejected), failed=len(failed),
        results=results), indent=1, default=str))
    print(f"serve_requests_rejected: {len(rejected)}")
    print(f"serve_p50_first_audio_ms: {p50:.1f}")
    print(f"serve_p95_first_audio_ms: {p95:.1f}")
    print(f"serve_requests_ok: {len(ok)}")
    print(f"serve_requests_failed: {len(failed)}")
    return 0


if __name__ == "__main__":
    if "OMP_WAIT_POLICY" not in os.environ:  # the server child inherits it
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    sys.exit(main())

"""Kaldi-style data directory tools for the espnet-mvc recipes (written for this project).

Run by ``tts.sh`` as ``python -m espnet_mvc.recipe.datadir <command> ...``; stdlib + PyYAML
only (``import espnet_mvc`` itself is cheap: it imports no ESPnet module and no torch).
The other recipe helpers import from it the one Kaldi reader (:func:`read_kv`) and the one
data-dir writer (:func:`write_datadir`).

Commands:
  validate <dir> [--check-audio-exists]     consistency of wav.scp/text/utt2spk/...
  spk2utt <utt2spk>                         print spk2utt
  split <file> <nj> <pattern-with-JOB>      contiguous split into nj files
  filter <src> <dst> --min-dur --max-dur    duration filter using utt2num_samples and fs
  subset <src> <dst> <uttlist>              copy the listed utterances
  make_ids --train <dir> [--sid] [--lid] <dirs...>   spk2sid/utt2sid, lang2lid/utt2lid
  check_config <yaml> --train <dir> --use_sid B --use_lid B [--spk_embed_dim N]
  merge_decode <tmp> <final> <nj> <text>    merge tts_inference outputs of nj jobs
                                            (wavs, timing -> rtf; prints the set's RTF)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

# per-utterance files (first field = utterance id) that follow a data dir around
PER_UTT_FILES = [
    "wav.scp",
    "text",
    "text.orig",
    "text_phn",
    "durations",
    "utt2spk",
    "utt2lang",
    "utt2num_samples",
    "ref.scp",
    "utt2sid",
    "utt2lid",
]
# files copied as they are
GLOBAL_FILES = ["fs", "spk2sid", "lang2lid"]


class DataDirError(Exception):
    pass


def read_kv(
    path: Path, allow_empty_value: bool = False, warn: Optional[List[str]] = None
) -> Tuple[List[str], Dict[str, str]]:
    """Read a Kaldi ``<key> <value>`` file (value: the rest of the line), keys in file order.

    The one Kaldi reader of the recipe helpers and the scorer. ESPnet's
    ``read_2columns_text`` (used where ESPnet is loaded anyway) does not fit here: these
    helpers run without ESPnet, an empty line makes it fail with a bare unpacking error,
    and the scorer must go on past a bad line; the messages here name the file and line.

    Args:
        path: The file.
        allow_empty_value: Accept a key without a value (read as "").
        warn: None: the first problem raises :class:`DataDirError`. A list: each problem
            is appended to it as a message and reading goes on (the scorer scores what it
            can): an empty line is skipped, a duplicate key keeps its first value and a
            key without a value is read as ""; bytes that are not UTF-8 are replaced.

    Returns:
        The keys in file order and the key -> value dict.
    """
    def problem(message: str) -> None:
        if warn is None:
            raise DataDirError(message)
        warn.append(message)

    keys: List[str] = []
    kv: Dict[str, str] = {}
    try:
        errors = "strict" if warn is None else "replace"
        text = Path(path).read_text(encoding="utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise DataDirError(f"{path}: not UTF-8 text ({e})") from e
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            problem(f"{path}: line {i}: empty line")
            continue
        parts = line.split(maxsplit=1)
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            problem(f"{path}: line {i}: no value for '{key}'")
        if key in kv:
            problem(f"{path}: line {i}: duplicate key '{key}'")
            continue
        keys.append(key)
        kv[key] = value
    return keys, kv


def write_kv(path: Path, kv: Dict[str, str], keys=None):
    keys = sorted(kv) if keys is None else keys
    tmp = Path(str(path) + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for k in keys:
            f.write(f"{k} {kv[k]}\n")
    tmp.replace(path)


def spk2utt_of(utt2spk: Dict[str, str]) -> Dict[str, str]:
    spk: Dict[str, List[str]] = {}
    for u in sorted(utt2spk):
        spk.setdefault(utt2spk[u], []).append(u)
    return {s: " ".join(us) for s, us in spk.items()}


#: the per-utterance files every data dir has, and the record field each is written from
DATADIR_FIELDS = {"wav.scp": "wav", "text": "text", "utt2spk": "spk", "utt2lang": "lang"}


def write_datadir(d: Path, utts: List[dict], more_files: Optional[Dict[str, str]] = None) -> None:
    """Write the Kaldi data dir ``d`` from one record per utterance, replacing any old one.

    Each file has ``<utterance id> <value>`` lines sorted by id. ``ref.scp`` is written
    when every record has a ``ref``; ``spk2utt`` follows from ``utt2spk``. The dir is
    written as ``<d>.tmp`` and then renamed, so that an interrupted run leaves no
    half-written ``d``.

    Args:
        d: The data dir.
        utts: Records with a unique ``id``, the fields of :data:`DATADIR_FIELDS`, an
            optional ``ref`` and the fields that ``more_files`` names.
        more_files: More per-utterance files: file name -> record field.
    """
    fields = dict(DATADIR_FIELDS, **(more_files or {}))
    if all(u.get("ref") for u in utts):
        fields["ref.scp"] = "ref"
    tmp = Path(str(d) + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, field in fields.items():
        write_kv(tmp / name, {u["id"]: u[field] for u in utts})
    write_kv(tmp / "spk2utt", spk2utt_of({u["id"]: u["spk"] for u in utts}))
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)


def validate(d: Path, check_audio_exists: bool = False) -> int:
    d = Path(d)
    if not d.is_dir():
        raise DataDirError(f"{d}: data directory does not exist")
    for f in ("wav.scp", "text", "utt2spk"):
        if not (d / f).is_file():
            raise DataDirError(f"{d}/{f}: missing (a data dir needs wav.scp, text, utt2spk)")
        if (d / f).stat().st_size == 0:
            raise DataDirError(f"{d}/{f}: empty file (no utterances)")
    keys, wav = read_kv(d / "wav.scp")
    if keys != sorted(keys):
        raise DataDirError(f"{d}/wav.scp: not sorted by utterance id (sort it with LC_ALL=C)")
    ref = set(keys)
    for f in PER_UTT_FILES[1:]:
        p = d / f
        if not p.is_file():
            continue
        fk, fkv = read_kv(p, allow_empty_value=False)
        if fk != sorted(fk):
            raise DataDirError(f"{p}: not sorted by utterance id")
        s = set(fk)
        if s != ref:
            missing = sorted(ref - s)[:5]
            extra = sorted(s - ref)[:5]
            raise DataDirError(
                f"{p}: utterance ids differ from {d}/wav.scp "
                f"(missing in {f}: {missing}; not in wav.scp: {extra})"
            )
    _, u2s = read_kv(d / "utt2spk")
    if (d / "spk2utt").is_file():
        _, s2u = read_kv(d / "spk2utt")
        if s2u != spk2utt_of(u2s):
            raise DataDirError(f"{d}/spk2utt: does not match utt2spk")
    if check_audio_exists:
        for k in keys:
            v = wav[k]
            if v.endswith("|"):
                continue
            if not Path(v).is_file():
                raise DataDirError(f"{d}/wav.scp: audio of '{k}' not found: {v}")
    return len(keys)


def split(path: Path, nj: int, pattern: str):
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if nj < 1:
        raise DataDirError(f"split: nj must be >= 1, got {nj}")
    if len(lines) < nj:
        raise DataDirError(f"split: {path} has {len(lines)} lines < {nj} jobs")
    for j in range(nj):
        lo = j * len(lines) // nj
        hi = (j + 1) * len(lines) // nj
        out = Path(pattern.replace("JOB", str(j + 1)))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(ln + "\n" for ln in lines[lo:hi]), encoding="utf-8")


def subset(src: Path, dst: Path, keep: List[str]):
    src, dst = Path(src), Path(dst)
    keep_set = set(keep)
    dst.mkdir(parents=True, exist_ok=True)
    for f in PER_UTT_FILES:
        if (src / f).is_file():
            keys, kv = read_kv(src / f)
            write_kv(dst / f, {k: kv[k] for k in keys if k in keep_set})
    for f in GLOBAL_FILES:
        if (src / f).is_file():
            shutil.copy(src / f, dst / f)
    _, u2s = read_kv(dst / "utt2spk")
    write_kv(dst / "spk2utt", spk2utt_of(u2s))
    validate(dst)


def filter_duration(src: Path, dst: Path, min_dur: float, max_dur: float):
    src = Path(src)
    if not (src / "utt2num_samples").is_file() or not (src / "fs").is_file():
        raise DataDirError(f"{src}: utt2num_samples/fs missing (run stage 2)")
    fs = int((src / "fs").read_text().strip())
    keys, n = read_kv(src / "utt2num_samples")
    keep, short, long_ = [], [], []
    for k in keys:
        dur = int(n[k]) / fs
        if dur < min_dur:
            short.append(k)
        elif dur > max_dur:
            long_.append(k)
        else:
            keep.append(k)
    if not keep:
        raise DataDirError(
            f"{src}: all {len(keys)} utterances are outside "
            f"[{min_dur}, {max_dur}] s (check --min_wav_duration/--max_wav_duration)"
        )
    subset(src, dst, keep)
    print(
        f"{src} -> {dst}: kept {len(keep)}/{len(keys)} "
        f"(shorter than {min_dur}s: {len(short)}, longer than {max_dur}s: {len(long_)})",
        file=sys.stderr,
    )


def make_ids(train: Path, dirs: List[Path], sid: bool, lid: bool):
    train = Path(train)
    todo = []
    if sid:
        todo.append(("utt2spk", "spk2sid", "utt2sid"))
    if lid:
        todo.append(("utt2lang", "lang2lid", "utt2lid"))
    for src_name, map_name, out_name in todo:
        if not (train / src_name).is_file():
            raise DataDirError(f"{train}/{src_name}: missing (needed for {map_name})")
        _, kv = read_kv(train / src_name)
        labels = sorted(set(kv.values()))
        # NOTE: 0 is reserved for unknown speakers/languages, as in ESPnet
        mapping = {"<unk>": 0}
        mapping.update({lab: i + 1 for i, lab in enumerate(labels)})
        text = "".join(f"{k} {v}\n" for k, v in mapping.items())
        for d in [train] + [Path(x) for x in dirs]:
            (d / map_name).write_text(text, encoding="utf-8")
            if not (d / src_name).is_file():
                raise DataDirError(f"{d}/{src_name}: missing (needed for {out_name})")
            keys, u2x = read_kv(d / src_name)
            unseen = sorted({u2x[k] for k in keys if u2x[k] not in mapping})
            if unseen:
                print(
                    f"{d}: {len(unseen)} {src_name[4:]} label(s) unseen in training "
                    f"-> id 0 (<unk>): {unseen[:5]}",
                    file=sys.stderr,
                )
            write_kv(d / out_name, {k: str(mapping.get(u2x[k], 0)) for k in keys}, keys)
        print(f"{map_name}: {len(mapping)} ids (incl. <unk>=0)", file=sys.stderr)


def _find_key(conf, key):
    """Value of key in tts_conf or any nested *_params dict."""
    if not isinstance(conf, dict):
        return None
    if key in conf:
        return conf[key]
    for k, v in conf.items():
        if isinstance(v, dict):
            r = _find_key(v, key)
            if r is not None:
                return r
    return None


def check_config(config: Path, train: Path, use_sid: bool, use_lid: bool, spk_embed_dim: int = 0):
    """Refuse a config whose sid/lid tables or speaker-embedding size do not fit the data
    (``spk_embed_dim``: size of stage 3's embeddings, 0 without ``--use_spk_embed``)."""
    import yaml

    try:
        conf = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DataDirError(f"{config}: invalid YAML: {e}") from e
    if not isinstance(conf, dict):
        raise DataDirError(f"{config}: not a mapping")
    tts_conf = conf.get("tts_conf") or {}
    for flag, mapfile, key in ((use_sid, "spk2sid", "spks"), (use_lid, "lang2lid", "langs")):
        n = _find_key(tts_conf, key)
        if flag:
            p = Path(train) / mapfile
            if not p.is_file():
                raise DataDirError(f"{p}: missing (run from stage 3 with the same --use_sid/--use_lid)")
            need = len(p.read_text().splitlines())
            if not n or int(n) < need:
                raise DataDirError(
                    f"{config}: tts_conf {key}={n} but {p} has {need} ids (incl. <unk>); "
                    f"set {key} >= {need}"
                )
        elif n and int(n) > 1:
            print(
                f"{config}: note: {key}={n} is set but {key[:-1]} ids are not given "
                f"(--use_{'sid' if key == 'spks' else 'lid'} false)",
                file=sys.stderr,
            )
    # Unlike unused id tables, a model with spk_embed_dim cannot run without embeddings.
    n = _find_key(tts_conf, "spk_embed_dim")
    if spk_embed_dim and n is None:
        raise DataDirError(
            f"{config}: --use_spk_embed true but tts_conf sets no spk_embed_dim; set spk_embed_dim: {spk_embed_dim}"
        )
    if spk_embed_dim and int(n) != spk_embed_dim:
        raise DataDirError(
            f"{config}: tts_conf spk_embed_dim={n} but the speaker embeddings have {spk_embed_dim} dims"
        )
    if not spk_embed_dim and n is not None:
        raise DataDirError(
            f"{config}: tts_conf spk_embed_dim={n} needs speaker embeddings: run from stage 3 with --use_spk_embed true"
        )


def merge_decode(tmp: Path, final: Path, nj: int, text: Path):
    tmp, final = Path(tmp), Path(final)
    keys, _ = read_kv(text, allow_empty_value=True)
    (tmp / "wav").mkdir(parents=True, exist_ok=True)
    outs = [tmp / "logs" / f"output.{j}" for j in range(1, nj + 1)]
    for o in outs:
        if (o / "wav").is_dir():
            for w in sorted((o / "wav").glob("*.wav")):
                w.replace(tmp / "wav" / w.name)
    have = {p.stem for p in (tmp / "wav").glob("*.wav")}
    missing = [k for k in keys if k not in have]
    if missing:
        raise DataDirError(
            f"decoding produced no wav for {len(missing)}/{len(keys)} utterances "
            f"(e.g. {missing[:5]}); see {final}.tmp/logs/tts_inference.*.log"
        )
    write_kv(tmp / "wav.scp", {k: str(final / "wav" / f"{k}.wav") for k in keys}, keys)
    for sub, name in (
        ("durations", "durations"),
        ("speech_shape", "speech_shape"),
        ("focus_rates", "focus_rates"),
        ("norm", "feats.scp"),
        ("denorm", "feats.scp"),
    ):
        parts = [o / sub / name for o in outs if (o / sub / name).is_file()]
        if not parts:
            continue
        (tmp / sub).mkdir(exist_ok=True)
        with (tmp / sub / name).open("w", encoding="utf-8") as f:
            for p in parts:
                for line in p.read_text(encoding="utf-8").splitlines():
                    f.write(line.replace(str(tmp) + "/", str(final) + "/") + "\n")
    merge_timing(outs, tmp / "rtf", keys)


def merge_timing(outs: List[Path], dst: Path, keys: List[str]):
    """Concatenate the jobs' ``rtf`` files (espnet_mvc.espnet.tts_inference) into ``dst`` and
    print the set's RTF: total synthesis wall time / total generated audio seconds."""
    parts = [o / "rtf" for o in outs if (o / "rtf").is_file()]
    if len(parts) < len(outs):
        print(f"WARNING: {len(outs) - len(parts)}/{len(outs)} decoding jobs wrote no timing "
              f"file (rtf); RTF covers the others only", file=sys.stderr)
    if not parts:
        return
    lines, elapsed, audio, n, peak = [], 0.0, 0.0, 0, None
    for p in parts:
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("#") and lines:
                continue  # one header
            lines.append(line)
            tok = line.split()
            try:  # (the scorer checks the lines; here only the sums for the log)
                if tok and tok[0] == "peak_mem_mib" and len(tok) > 1:
                    peak = max(peak or 0.0, float(tok[1]))
                    continue
                kv = dict(t.split("=", 1) for t in tok[1:] if "=" in t)
                if "elapsed_s" in kv and "audio_s" in kv:
                    e, a = float(kv["elapsed_s"]), float(kv["audio_s"])
                    elapsed, audio, n = elapsed + e, audio + a, n + 1
            except ValueError:
                pass
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if audio > 0:
        mem = f", peak memory {peak:.0f} MiB" if peak is not None else ""
        print(f"RTF {elapsed / audio:.4f} ({elapsed:.2f} s synthesis / {audio:.2f} s audio, "
              f"{n}/{len(keys)} utterances{mem})")


def _bool(s: str) -> bool:
    if s not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {s}")
    return s == "true"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("validate")
    p.add_argument("dir")
    p.add_argument("--check-audio-exists", action="store_true")
    p = sub.add_parser("spk2utt")
    p.add_argument("utt2spk")
    p = sub.add_parser("split")
    p.add_argument("file")
    p.add_argument("nj", type=int)
    p.add_argument("pattern")
    p = sub.add_parser("filter")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--min-dur", type=float, required=True)
    p.add_argument("--max-dur", type=float, required=True)
    p = sub.add_parser("subset")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("uttlist")
    p = sub.add_parser("make_ids")
    p.add_argument("--train", required=True)
    p.add_argument("--sid", action="store_true")
    p.add_argument("--lid", action="store_true")
    p.add_argument("dirs", nargs="*")
    p = sub.add_parser("check_config")
    p.add_argument("config")
    p.add_argument("--train", required=True)
    p.add_argument("--use_sid", type=_bool, default=False)
    p.add_argument("--use_lid", type=_bool, default=False)
    p.add_argument("--spk_embed_dim", type=int, default=0, help="0: no speaker embeddings")
    p = sub.add_parser("merge_decode")
    p.add_argument("tmp")
    p.add_argument("final")
    p.add_argument("nj", type=int)
    p.add_argument("text")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "validate":
            validate(Path(a.dir), a.check_audio_exists)
        elif a.cmd == "spk2utt":
            _, u2s = read_kv(Path(a.utt2spk))
            for s, us in spk2utt_of(u2s).items():
                print(s, us)
        elif a.cmd == "split":
            split(Path(a.file), a.nj, a.pattern)
        elif a.cmd == "filter":
            filter_duration(Path(a.src), Path(a.dst), a.min_dur, a.max_dur)
        elif a.cmd == "subset":
            keep = Path(a.uttlist).read_text().split()
            subset(Path(a.src), Path(a.dst), keep)
        elif a.cmd == "make_ids":
            make_ids(Path(a.train), a.dirs, a.sid, a.lid)
        elif a.cmd == "check_config":
            check_config(Path(a.config), Path(a.train), a.use_sid, a.use_lid, a.spk_embed_dim)
        elif a.cmd == "merge_decode":
            merge_decode(Path(a.tmp), Path(a.final), a.nj, Path(a.text))
    except DataDirError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The scorer's inputs: Kaldi lists, folders of wavs, wav.scp entries and the RTF log.

Every reader here tolerates bad input: a problem is appended to the caller's ``warn`` list
and reading goes on, so that stage 9 scores what it can (see :mod:`espnet_mvc.bin.score`).
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from espnet_mvc.metrics.audio import AudioError, check_wav, load_wav
from espnet_mvc.recipe import datadir


def read_kv(path, what: str, warn: List[str]) -> Dict[str, str]:
    """Read a Kaldi-style ``<key> <value...>`` file.

    Args:
        path: The file.
        what: Its role, for the warning (``text``, ``utt2lang``, ...).
        warn: Problems are appended here; bad lines are skipped.

    Returns:
        key -> value; empty when the file cannot be read.
    """
    try:
        return datadir.read_kv(path, warn=warn)[1]
    except OSError as e:
        warn.append(f"cannot read {what} {path}: {e}")
        return {}


def resolve_scp_path(entry: str, scp_path: Optional[Path]) -> str:
    """Resolve a relative wav.scp path: from the cwd (Kaldi's convention), else the scp's dir.

    Args:
        entry: The wav.scp value: a path, a ``cmd |`` pipe or a Kaldi ``ark:offset``.
        scp_path: The wav.scp file, or None.

    Returns:
        The entry to load; pipes, arks and absolute paths unchanged.
    """
    if entry.endswith("|") or ".ark:" in entry or os.path.isabs(entry):
        return entry
    if os.path.exists(entry) or scp_path is None:
        return entry
    alt = scp_path.parent / entry
    return str(alt) if alt.exists() else entry


def read_wav_scp(path, what: str, warn: List[str]) -> Dict[str, str]:
    """Read a wav.scp: utterance id -> entry, relative paths resolved, empty values dropped."""
    p = Path(path)
    return {k: resolve_scp_path(v, p) for k, v in read_kv(p, what, warn).items() if v}


def wavs_in_dir(d: Path) -> Dict[str, str]:
    """``<utt>.wav`` and ``<utt>.flac`` files of a folder: utterance id -> path (wav first)."""
    out = {}
    for ext in ("wav", "flac"):
        for f in sorted(d.glob(f"*.{ext}")):
            out.setdefault(f.stem, str(f))
    return out


def resolve_syn(syn_dir: Optional[str], wav_scp: Optional[str], warn: List[str]) -> Dict[str, str]:
    """The synthesized wavs, from ``--wav-scp`` or from ``--syn-dir``.

    Args:
        syn_dir: A folder of ``<utt>.wav``, or one with a ``wav/`` subfolder or a ``wav.scp``.
        wav_scp: A wav.scp; wins over ``syn_dir``.
        warn: Problems are appended here.

    Returns:
        utterance id -> wav.scp entry.
    """
    if wav_scp:
        return read_wav_scp(wav_scp, "synthesized wav.scp", warn)
    d = Path(syn_dir)
    if not d.is_dir():
        warn.append(f"--syn-dir {d} is not a directory")
        return {}
    found = wavs_in_dir(d)
    if found:
        return found
    if (d / "wav.scp").is_file():
        return read_wav_scp(d / "wav.scp", "synthesized wav.scp", warn)
    if (d / "wav").is_dir():
        return resolve_syn(str(d / "wav"), None, warn)
    warn.append(f"no <utt>.wav, wav/ or wav.scp in --syn-dir {d}")
    return {}


def resolve_ref(
    ref_wav_scp: Optional[str], ref_dir: Optional[str], warn: List[str]
) -> Tuple[Optional[Dict[str, str]], Dict[str, str]]:
    """The ground-truth wavs, from ``--ref-wav-scp`` or ``--ref-dir``.

    Args:
        ref_wav_scp: A wav.scp; wins over ``ref_dir``.
        ref_dir: A Kaldi data dir (its ``text`` and ``utt2lang`` are returned too) or a
            folder of ``<utt>.wav`` (or with a ``wav/`` subfolder).
        warn: Problems are appended here.

    Returns:
        (utterance id -> entry, or None when no reference was given; the data dir's
        ``text`` / ``utt2lang`` paths by name).
    """
    extra: Dict[str, str] = {}
    if ref_wav_scp:
        return read_wav_scp(ref_wav_scp, "reference wav.scp", warn), extra
    if not ref_dir:
        return None, extra
    d = Path(ref_dir)
    if (d / "wav.scp").is_file():
        for name in ("text", "utt2lang"):
            if (d / name).is_file():
                extra[name] = str(d / name)
        return read_wav_scp(d / "wav.scp", "reference wav.scp", warn), extra
    if d.is_dir():
        found = wavs_in_dir(d)
        if not found and (d / "wav").is_dir():
            found = wavs_in_dir(d / "wav")
        if not found:
            warn.append(f"no wav.scp or <utt>.wav in --ref-dir {d}")
        return found, extra
    warn.append(f"--ref-dir {d} is not a directory")
    return {}, extra


def load_entry(entry: str) -> Tuple[np.ndarray, int]:
    """Load a wav.scp entry: a file path, a ``cmd |`` pipe or a Kaldi ``ark:offset``.

    Args:
        entry: The wav.scp value.

    Returns:
        The mono float64 waveform (T,) in [-1, 1] and its sample rate.

    Raises:
        AudioError: The entry cannot be read or is not scorable (see :func:`check_wav`).
    """
    if entry.endswith("|"):
        import soundfile as sf

        try:
            data = subprocess.run(
                entry[:-1], shell=True, check=True, capture_output=True, timeout=120
            ).stdout
            x, fs = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
        except Exception as e:
            raise AudioError(f"pipe entry failed ({entry[:60]}...): {type(e).__name__}")
        x = x.mean(axis=1)
        check_wav(x, fs, name=entry[:60])
        return x, int(fs)
    if ".ark:" in entry:
        try:
            import kaldiio

            fs, x = kaldiio.load_mat(entry)
        except Exception as e:
            raise AudioError(f"cannot read ark entry {entry}: {type(e).__name__}: {e}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim > 1:
            x = x.mean(axis=1)
        if np.abs(x).max(initial=0) > 1.0:  # Kaldi arks hold int16-scaled samples
            x = x / 32768.0
        check_wav(x, fs, name=entry)
        return x, int(fs)
    return load_wav(entry)


def probe_rate(entry: str) -> Optional[int]:
    """Sample rate of a file entry from its header; None for pipes, arks and bad files."""
    if entry.endswith("|") or ".ark:" in entry:
        return None
    try:
        import soundfile as sf

        return int(sf.info(entry).samplerate)
    except Exception:
        return None


@dataclasses.dataclass
class ScoreInputs:
    """The lists a scoring run reads, by utterance id.

    Attributes:
        syn: Synthesized wav entries.
        refs: Ground-truth wav entries; None when no reference was given.
        texts: Transcripts; None when no text file was given.
        langs: Languages (``utt2lang``); empty when none was given.
        spks: Cloning-reference wav entries; None when ``--ref-spk-scp`` was not given.
        text_path: The text file read (given, or the reference data dir's).
        lang_path: The utt2lang file read (given, or the reference data dir's).
    """

    syn: Dict[str, str]
    refs: Optional[Dict[str, str]]
    texts: Optional[Dict[str, str]]
    langs: Dict[str, str]
    spks: Optional[Dict[str, str]]
    text_path: Optional[str]
    lang_path: Optional[str]


def read_inputs(args, warn: List[str]) -> ScoreInputs:
    """Read the lists named by the scorer's options.

    Args:
        args: Options of :func:`espnet_mvc.bin.score.get_parser` (``syn_dir``,
            ``wav_scp``, ``ref_wav_scp``, ``ref_dir``, ``text``, ``utt2lang``,
            ``ref_spk_scp``).
        warn: Problems are appended here, in reading order.

    Returns:
        The lists; a missing or unreadable one is empty (or None when not given).
    """
    syn = resolve_syn(args.syn_dir, args.wav_scp, warn)
    refs, extra = resolve_ref(args.ref_wav_scp, args.ref_dir, warn)
    text_path = args.text or extra.get("text")
    lang_path = args.utt2lang or extra.get("utt2lang")
    texts = read_kv(text_path, "text", warn) if text_path else None
    langs = read_kv(lang_path, "utt2lang", warn) if lang_path else {}
    spks = (read_wav_scp(args.ref_spk_scp, "reference speaker scp", warn)
            if args.ref_spk_scp else None)
    return ScoreInputs(syn, refs, texts, langs, spks, text_path, lang_path)


@dataclasses.dataclass
class RtfLog:
    """What stage 8's RTF file gives the scorer.

    Attributes:
        per_utt: utterance id -> ``{"rtf", "peak_mem"?, "elapsed_s"?, "cpu_s"?, "audio_s"?}``.
        run_peak: Run-level peak memory (MiB), or None.
        path: The file, or None when none was given or found.
        not_applicable: Why RTF is n/a for every utterance, or None when it is usable.
    """

    per_utt: Dict[str, Dict[str, float]]
    run_peak: Optional[float]
    path: Optional[Path]
    not_applicable: Optional[str]


def read_rtf_log(
    rtf_file: Optional[str], syn_base: Path, peak_mem: Optional[float], want_rtf: bool,
    warn: List[str],
) -> RtfLog:
    """Read the RTF file given, or the one found next to the synthesized wavs.

    Args:
        rtf_file: ``--rtf-file``, or None to look in ``syn_base`` and its parent.
        syn_base: The folder of the synthesized wavs (or of their wav.scp).
        peak_mem: ``--peak-mem`` (MiB), or None; the file's peak raises it.
        want_rtf: Whether RTF was requested; the file is only read then.
        warn: Bad lines are appended here.

    Returns:
        The per-utterance entries, the run's peak and, when unusable, the reason.
    """
    from espnet_mvc.metrics.rtf import find_rtf_file, read_rtf_file

    log = RtfLog({}, peak_mem, None, None)
    log.path = Path(rtf_file) if rtf_file else find_rtf_file(syn_base, syn_base.parent)
    if log.path is None:
        log.not_applicable = "no RTF file (--rtf-file)"
    elif not log.path.is_file():
        log.not_applicable = f"RTF file {log.path} not found"
    elif want_rtf:
        try:
            log.per_utt, file_peak = read_rtf_file(log.path, warn)
        except (OSError, ValueError) as e:
            log.not_applicable = f"cannot read RTF file {log.path}: {e}"
        else:
            if file_peak is not None:
                log.run_peak = max(log.run_peak or 0.0, file_peak)
            if not log.per_utt:
                log.not_applicable = f"no usable RTF line in {log.path}"
    return log

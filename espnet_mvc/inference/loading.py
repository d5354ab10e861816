"""Loading a model from disk: archive checks and the unpack cache, recipe-path rewriting,
vocoder and id-map discovery.

Two safety rules hold for downloaded archives: members are checked before unpacking (no
absolute paths, no ``..``, no links), and checkpoints load with ``weights_only=True``
(:mod:`espnet_mvc.espnet.checkpoints`) so a checkpoint cannot execute code. Configs are read
with ``yaml.safe_load`` (as ESPnet does).

This module imports neither torch nor ESPnet (ESPnet's ``unpack`` only when it unpacks).
:func:`model_files` is what ``MVCSynthesizer.from_pretrained`` loads.
"""

import contextlib
import hashlib
import json
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Union

import yaml

from espnet_mvc.inference.builtin_voices import BuiltinVoices

# Checkpoint names looked for in an experiment directory, best first.
CHECKPOINTS = ("valid.loss.best.pth", "valid.loss.ave.pth", "train.loss.best.pth",
               "latest.pth")


class ModelLoadError(RuntimeError):
    """The model (archive, directory or files) cannot be loaded."""


# Paths an ESPnet TTS config names relative to the recipe dir it was trained in.
_RECIPE_PATH_KEYS = (
    ("normalize_conf", "stats_file"),
    ("pitch_normalize_conf", "stats_file"),
    ("energy_normalize_conf", "stats_file"),
    (None, "token_list"),
    (None, "bpemodel"),
)


@contextlib.contextmanager
def resolve_recipe_paths(config: Path, exp_dir: Path) -> Iterator[Path]:
    """An exp dir's ``config.yaml`` names files (feature stats, token list, data dirs)
    relative to the recipe dir that trained it, and ESPnet opens them relative to the
    current directory. Where one is missing from there but found relative to a parent of
    ``exp_dir`` (the recipe dir), yield a copy of the config (in a temporary dir, removed
    on exit: ESPnet reads these files only while it builds the model) with those paths
    made absolute; else yield ``config`` itself.

    Raises:
        ModelLoadError: a named file exists neither relative to the current directory nor
            to any parent of ``exp_dir``.
    """
    with open(config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    cwd = Path.cwd()
    recipe_dirs = exp_dir.resolve().parents
    changed = False

    def resolve(value: str, what: str, required: bool) -> Optional[str]:
        if os.path.isabs(value) or (cwd / value).exists():
            return None
        found = next((r / value for r in recipe_dirs if (r / value).exists()), None)
        if found is None and required:
            raise ModelLoadError(
                f"{config}: {what} = {value} exists neither relative to the current directory "
                f"({cwd}) nor to a parent of {exp_dir}; run from the recipe dir that trained "
                f"the model, or load its packed archive (stage 9)"
            )
        return None if found is None else str(found)

    for section, key in _RECIPE_PATH_KEYS:
        holder = conf if section is None else conf.get(section)
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            what = f"{section}.{key}" if section else key
            new = resolve(holder[key], what, required=True)
            if new is not None:
                holder[key], changed = new, True
    for entry in conf.get("train_data_path_and_name_and_type") or []:
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            new = resolve(entry[0], "train data", required=False)  # only used to find id maps
            if new is not None:
                entry[0], changed = new, True
    if not changed:
        yield config
        return
    with tempfile.TemporaryDirectory(prefix="espnet_mvc_config_") as tmp:
        copy = Path(tmp) / "config.yaml"
        with open(copy, "w", encoding="utf-8") as f:
            yaml.safe_dump(conf, f, allow_unicode=True)
        yield copy


def _check_members(names: Sequence[str], archive: Path) -> None:
    for name in names:
        p = Path(name)
        if p.is_absolute() or ".." in p.parts:
            raise ModelLoadError(f"{archive}: refusing unsafe member path {name!r}")


def safe_unpack(archive: Union[str, Path], outdir: Optional[Union[str, Path]] = None) -> Dict:
    """Unpack an ESPnet model archive (zip or tar) after checking its members.

    Without ``outdir`` the archive goes to a cache directory named by its content's hash,
    and is unpacked there once: later calls read what that unpacking returned (ESPnet's
    ``unpack`` cache looks for the files one directory too high for archives with
    ``meta.yaml`` at the top, as stage 10 packs them, and so unpacks again every time).

    Returns:
        Dict[str, str]: ESPnet's ``unpack`` result (``tts_train_config``, ``tts_model_file``,
        other packed files), paths inside ``outdir``.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise ModelLoadError(f"model archive {archive}: file not found")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            _check_members([i.filename for i in infos], archive)
            for i in infos:  # symlinks in zips are stored with S_IFLNK in the mode bits
                if (i.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ModelLoadError(f"{archive}: refusing symlink member {i.filename!r}")
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = t.getmembers()
            _check_members([m.name for m in members], archive)
            for m in members:
                if not (m.isfile() or m.isdir()):
                    raise ModelLoadError(f"{archive}: refusing non-regular member {m.name!r}")
    else:
        raise ModelLoadError(f"{archive}: neither a zip nor a tar archive")
    done = None  # the record of a finished unpacking into the cache
    if outdir is None:
        digest = hashlib.sha1(archive.read_bytes()).hexdigest()[:16]
        outdir = Path(os.environ.get("ESPNET_MVC_CACHE", Path.home() / ".cache/espnet_mvc"))
        outdir = outdir / "models" / digest
        done = outdir / _UNPACKED
        files = _read_unpacked(done)
        if files is not None:
            return files
    from espnet2.main_funcs.pack_funcs import unpack

    try:
        files = unpack(archive, outdir)
    except Exception as e:
        raise ModelLoadError(f"{archive}: not an ESPnet model archive ({e})") from e
    # ESPnet's meta.yaml does not list --option files (id maps, stats): find them on disk.
    for name in ("lang2lid", "spk2sid"):
        found = sorted(Path(outdir).rglob(name))
        if found:
            files.setdefault(name, str(found[0]))
    files.update(find_vocoder(Path(outdir), recursive=True))
    if done is not None:
        tmp = done.with_name(f"{done.name}.{os.getpid()}")
        tmp.write_text(json.dumps(files), encoding="utf-8")
        os.replace(tmp, done)
    return files


_UNPACKED = "espnet_mvc_unpacked.json"


def _read_unpacked(record: Path) -> Optional[Dict[str, str]]:
    """What :func:`safe_unpack` returned when it unpacked into ``record``'s directory, if
    that finished and its files are all still there."""
    try:
        files = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(files, dict) or not all(
            isinstance(v, str) and Path(v).is_file() for v in files.values()):
        return None
    return files


def find_vocoder(d: Path, recursive: bool = False) -> Dict[str, str]:
    """``vocoder_file`` / ``vocoder_config`` of a plugin vocoder in ``d`` (or below)."""
    found = sorted(d.rglob("vocoder.pth")) if recursive else [d / "vocoder.pth"]
    for f in found:
        if f.is_file() and f.with_suffix(".yaml").is_file():
            return dict(vocoder_file=str(f), vocoder_config=str(f.with_suffix(".yaml")))
    return {}


@contextlib.contextmanager
def model_files(model: Union[str, Path]) -> Iterator[Dict[str, object]]:
    """The files of a model on disk, as ``MVCSynthesizer``'s keywords (valid in the block).

    Args:
        model: ``packed.zip`` / ``.tar.gz`` (stage 9); an ``exp/<tag>`` directory holding
            ``config.yaml`` and a checkpoint; or a ``config.yaml`` beside its weights. A
            ``vocoder.pth`` (with its ``vocoder.yaml``) beside the archive, in the directory
            or inside the archive is the vocoder; a ``voices/`` directory beside the archive
            or config, or in the directory, holds the built-in voices.

    Yields:
        Dict: ``train_config``, ``model_file``, ``voices`` and, where found,
        ``vocoder_file`` / ``vocoder_config``, ``search_dir`` (an exp dir: where the id maps
        are) or ``lang2lid`` / ``spk2sid`` (an archive's). An exp dir's config is a copy with
        its recipe paths resolved (:func:`resolve_recipe_paths`) while the block runs.

    Raises:
        ModelLoadError: no such model, or not one (no config, no weights, a bad archive).
    """
    model = Path(model)
    if not model.exists():
        raise ModelLoadError(f"model {model}: no such file or directory")
    vocoder = find_vocoder(model.parent if model.is_file() else model)
    try:
        voices = BuiltinVoices.find(model)
    except ValueError as e:
        raise ModelLoadError(str(e)) from e
    if model.is_file() and model.suffix in (".yaml", ".yml"):
        model = model.parent
    if model.is_dir():
        config = model / "config.yaml"
        if not config.is_file():
            raise ModelLoadError(f"{model}: no config.yaml (is it an ESPnet exp dir?)")
        ckpt = next((model / c for c in CHECKPOINTS if (model / c).is_file()), None)
        if ckpt is None:
            pths = sorted(model.glob("*.pth"))
            # (a vocoder.pth beside the model is its vocoder, not its weights)
            pths = [p for p in pths if p.name not in ("checkpoint.pth", "vocoder.pth")]
            if not pths:
                raise ModelLoadError(f"{model}: no model weights (*.pth) found")
            ckpt = pths[-1]
        with resolve_recipe_paths(config, model) as resolved:
            yield dict(train_config=resolved, model_file=ckpt, search_dir=model,
                       voices=voices, **vocoder)
        return
    files = safe_unpack(model)
    config = files.get("tts_train_config") or files.get("train_config")
    weights = files.get("tts_model_file") or files.get("model_file")
    if not config or not weights:
        raise ModelLoadError(f"{model}: archive has no TTS config/model ({sorted(files)})")
    if not vocoder and "vocoder_file" in files:
        vocoder = dict(vocoder_file=files["vocoder_file"], vocoder_config=files["vocoder_config"])
    yield dict(train_config=config, model_file=weights, lang2lid=files.get("lang2lid"),
               spk2sid=files.get("spk2sid"), voices=voices, **vocoder)

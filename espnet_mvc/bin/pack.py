"""`python -m espnet_mvc.bin.pack`: ESPnet's `espnet2.bin.pack` with the MVC plugin registered.

Same arguments and behaviour as ESPnet's module, plus one option:

    --g2p NAME   the g2p the packed config records (the exp dir's config is left as it is)

A model trained on text phonemized before training has ``g2p: none`` in its config, and
ESPnet's ``Text2Speech`` would then read raw text as space-separated phonemes. The recipes'
multilingual espeak front end is such a case: ``--g2p espeak_ng_multilingual`` records the
plugin's ``espeak_ng_multilingual_<lang>`` in the model's default language (English where
it has it, else its first, from the packed ``lang2lid``; see
:func:`espnet_mvc.text.languages.default_language`), so that
``Text2Speech.from_pretrained(model_tag=<packed zip>)`` reads raw text after
``import espnet_mvc``. Any other name is recorded as given.
"""

import argparse
import io
import os
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import List, Optional

import yaml

# first: the package defers g2p_en (nltk downloads at import) before ESPnet imports it
from espnet_mvc.espnet import registry  # isort: skip
from espnet2.bin.pack import get_parser as espnet_get_parser  # noqa: E402
from espnet2.bin.pack import main as espnet_main  # noqa: E402

registry.register_now()


def _read_languages(option_files: List[str]) -> List[str]:
    for f in option_files:
        if Path(f).name == "lang2lid" and Path(f).is_file():
            return [ln.split()[0] for ln in Path(f).read_text(encoding="utf-8").splitlines()
                    if ln.strip()]
    return []


def packed_g2p(g2p: str, option_files: List[str]) -> str:
    """The g2p name to record for ``--g2p g2p`` (see the module's doc)."""
    from espnet_mvc.text.languages import default_language
    from espnet_mvc.text import espeak

    if g2p != espeak.MULTILINGUAL_G2P:
        return g2p
    return espeak.multilingual_g2p_type(default_language(_read_languages(option_files)) or "en")


def _rewrite_member(archive: Path, member: str, data: bytes) -> None:
    """Replace one member of a zip or tar archive (written anew beside it, then moved)."""
    fd, tmp = tempfile.mkstemp(dir=archive.parent, prefix=archive.name + ".")
    os.close(fd)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as src, zipfile.ZipFile(tmp, "w") as dst:
                for info in src.infolist():
                    dst.writestr(info, data if info.filename == member else src.read(info))
        else:
            mode = {".gz": "gz", ".tgz": "gz", ".bz2": "bz2", ".tbz2": "bz2",
                    ".xz": "xz", ".txz": "xz"}.get(archive.suffix, "")
            with tarfile.open(archive) as src, tarfile.open(tmp, f"w:{mode}") as dst:
                for info in src.getmembers():
                    if info.name == member:
                        info.size = len(data)
                        dst.addfile(info, io.BytesIO(data))
                    else:
                        dst.addfile(info, src.extractfile(info) if info.isfile() else None)
        os.replace(tmp, archive)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def record_g2p(archive: Path, g2p: str) -> None:
    """Set ``g2p`` in the train config packed in ``archive`` (ESPnet's meta.yaml names it)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            meta = yaml.safe_load(z.read("meta.yaml"))
            member = meta["yaml_files"]["train_config"]
            conf = yaml.safe_load(z.read(member))
    else:
        with tarfile.open(archive) as t:
            meta = yaml.safe_load(t.extractfile("meta.yaml"))
            member = meta["yaml_files"]["train_config"]
            conf = yaml.safe_load(t.extractfile(member))
    conf["g2p"] = g2p
    _rewrite_member(archive, member, yaml.safe_dump(conf, allow_unicode=True).encode("utf-8"))


def main(cmd: Optional[List[str]] = None) -> None:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--g2p", default=None)
    args, rest = own.parse_known_args(sys.argv[1:] if cmd is None else cmd)
    if args.g2p is None:
        return espnet_main(rest)
    espnet_args = espnet_get_parser().parse_args(rest)
    g2p = packed_g2p(args.g2p, list(espnet_args.option or []))
    espnet_main(rest)
    record_g2p(Path(espnet_args.outpath), g2p)
    print(f"Recorded g2p: {g2p}")


if __name__ == "__main__":
    main()

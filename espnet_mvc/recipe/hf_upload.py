"""Stage 11: upload a packed model (stage 10's packed.zip) to the Hugging Face Hub.

The zip is unpacked into a staging folder next to it, a model card (README.md) is added,
and the folder is uploaded with ``huggingface_hub``. ``--dry-run`` prints the repository
and every file that would be uploaded (with sizes) and uploads nothing.

Authentication is huggingface_hub's own: ``HF_TOKEN`` or ``huggingface-cli login``.
Run by ``tts.sh`` as ``python -m espnet_mvc.recipe.hf_upload``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

CARD = """---
license: apache-2.0
library_name: espnet
tags:
- espnet
- espnet-mvc
- text-to-speech
- mamba
---

# {repo}

MambaVoiceCloning (espnet-mvc) model trained with the `{recipe}` recipe
(experiment tag `{tag}`).

## Usage

```python
import espnet_mvc  # registers the MVC model classes in ESPnet
from espnet2.bin.tts_inference import Text2Speech

tts = Text2Speech.from_pretrained("{repo}")
```

Or unpack `packed.zip`-style files locally and pass `train_config` / `model_file`.

## Files

{files}

{results}
"""


def human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repo", required=True, help="user/name on the Hugging Face Hub")
    ap.add_argument("--packed", required=True, help="stage 10's packed.zip")
    ap.add_argument("--recipe", default="")
    ap.add_argument("--tag", default="")
    ap.add_argument("--results", default=None, help="RESULTS.md to include in the model card")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)

    if a.repo.count("/") != 1 or any(not p for p in a.repo.split("/")):
        print(f"ERROR: --hf_repo must look like user/name, got '{a.repo}'", file=sys.stderr)
        return 1
    packed = Path(a.packed)
    try:
        zf = zipfile.ZipFile(packed)
    except (OSError, zipfile.BadZipFile) as e:
        print(f"ERROR: cannot read the packed model {packed}: {e}", file=sys.stderr)
        return 1
    infos = [i for i in zf.infolist() if not i.is_dir()]
    files = "\n".join(f"- `{i.filename}` ({human(i.file_size)})" for i in infos)
    results = ""
    if a.results and Path(a.results).is_file():
        results = "## Results\n\n" + Path(a.results).read_text(encoding="utf-8")
    card = CARD.format(repo=a.repo, recipe=a.recipe or "?", tag=a.tag or "?", files=files, results=results)

    if a.dry_run:
        print(f"[dry run] would upload to https://huggingface.co/{a.repo} (model repository):")
        print(f"  README.md ({human(len(card.encode()))}, model card)")
        for i in infos:
            print(f"  {i.filename} ({human(i.file_size)})")
        print(f"[dry run] {len(infos) + 1} files, {human(sum(i.file_size for i in infos))}; nothing uploaded")
        return 0

    try:
        from huggingface_hub import HfApi
    except ImportError:
        print("ERROR: huggingface_hub is not installed (pip install huggingface_hub)", file=sys.stderr)
        return 1
    stage = packed.parent / "hf_upload"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    zf.extractall(stage)
    (stage / "README.md").write_text(card, encoding="utf-8")
    api = HfApi()
    try:
        api.create_repo(a.repo, repo_type="model", exist_ok=True)
        api.upload_folder(folder_path=str(stage), repo_id=a.repo, repo_type="model",
                          commit_message=f"espnet-mvc {a.recipe} {a.tag}")
    except Exception as e:  # network, auth, permissions
        print(
            f"ERROR: upload to https://huggingface.co/{a.repo} failed: {type(e).__name__}: {e}\n"
            "  (network reachable? logged in with huggingface-cli login or HF_TOKEN set?)",
            file=sys.stderr,
        )
        return 1
    print(f"uploaded {len(infos) + 1} files to https://huggingface.co/{a.repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

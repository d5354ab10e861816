#!/usr/bin/env bash
# Where the corpora live. Point these at local copies (or export them before ./run.sh).
# "downloads" means: local/data.sh downloads the corpus into ./downloads when a network
# is reachable. CSS10 is distributed through Kaggle and is never downloaded automatically.
LJSPEECH=${LJSPEECH:-downloads}
VCTK=${VCTK:-downloads}
CSS10=${CSS10:-}

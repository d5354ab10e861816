"""Text front-end helpers: espeak-ng (pip-only) phonemizer setup and synthesizer."""

from espnet_mvc.text.espeak import (  # noqa: F401
    LANG2G2P,
    EspeakError,
    EspeakSynthesizer,
    phonemize,
    setup_espeak_env,
)

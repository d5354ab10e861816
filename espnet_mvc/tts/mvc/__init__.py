"""MambaVoiceCloning: one component per file (see mvc.py for how they connect)."""

from espnet_mvc.tts.mvc.decode_options import DecodeOptions

__all__ = ["MVC", "DecodeOptions"]


def __getattr__(name):
    # MVC is imported on first use: the command line reads DecodeOptions from this package
    # and must not pay for torch and ESPnet before it synthesizes anything
    if name == "MVC":
        from espnet_mvc.tts.mvc.mvc import MVC

        return MVC
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

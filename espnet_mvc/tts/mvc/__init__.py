"""MambaVoiceCloning: one component per file (see mvc.py for how they connect)."""

from espnet_mvc.tts.mvc.mvc import MVC

__all__ = ["MVC"]

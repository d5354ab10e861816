"""Register the plugin into ESPnet: every run-time change of ESPnet, in one table.

ESPnet has no entry-point mechanism for models or text front ends: tasks pick classes from
``ClassChoices`` objects (``tts_choices``), ``JointText2Wav`` looks text2mel classes up in
the module dict ``AVAILABLE_TEXT2MEL`` and ``PhonemeTokenizer`` picks its g2p in an if/elif
chain. ``Text2Speech`` and packed-model loading rebuild models through ``TTSTask`` /
``GANTTSTask``, so the plugin has to be in those tables.

When:

* The ESPnet entry points (:mod:`espnet_mvc.espnet.tts_train`, ``tts_inference``,
  :mod:`espnet_mvc.bin.pack`) call :func:`register_now`: they import ESPnet's task modules
  anyway, so they register into them at once.
* ``import espnet_mvc`` calls :func:`register_all`, which registers into the ESPnet modules
  already imported and installs an import hook for the others (each is changed the moment
  it finishes importing). The hook stays because library use has no other way:
  ``import espnet_mvc`` must stay cheap (the CLI and the API import it; ESPnet's task
  modules cost ~10 s of CPU on 2 cores), yet ``Text2Speech.from_pretrained(...)`` after it
  must find ``tts: mvc`` and the plugin's g2p, and code reaches those tables only by
  importing ESPnet's modules.

What, and why (each change has a one-line ``why`` comment where it is made):

* ``espnet2.tasks.tts.tts_choices`` and ``AVAILABLE_TEXT2MEL``: entries added (ESPnet's
  own extension points: registries); no code is replaced. (The gan_tts task's
  ``tts_choices`` is not touched: its model needs a GAN generator, which MVC is not; a
  joint MVC model is ``tts: joint_text2wav`` with ``text2mel: mvc``.)
* ``g2p_choices`` and ``PhonemeTokenizer.__init__`` (:func:`_add_g2p`): the plugin's g2p
  types, so that packed models read raw text through ESPnet's own ``Text2Speech``.
* ``TTSTask.build_vocoder_from_file`` (:func:`_patch_build_vocoder`): ``Text2Speech`` builds
  its vocoder there, and it rejects the plugin's vocoder files.
* ``Text2Speech.__init__`` (:func:`_patch_text2speech`): it hands its generic decode
  options (``speed_control_alpha``, ``noise_scale``) only to the model classes it knows.
* ``JointText2Wav.use_gst`` (:func:`_patch_joint_text2wav`): the joint wrapper hides the
  flag that makes ESPnet pass a reference clip.

Outside ESPnet, for the same import hook:

* ``g2p_en`` runs only on first use (:class:`_RunOnFirstUse`): ESPnet's tokenizer module
  imports it, and it calls ``nltk.download()`` at import when its data is missing.
* ``phonemizer``'s espeak wrapper is pointed at espeakng-loader's library when it loads
  (:func:`espnet_mvc.text.espeak.configure_phonemizer`), in place of environment variables
  set at ``import espnet_mvc``.

The plugin's own loading path for MVC models (:mod:`espnet_mvc.espnet.text2speech`) needs
none of this. Checkpoint loading (:mod:`espnet_mvc.espnet.checkpoints`) and the decode
entry point's timing (:mod:`espnet_mvc.espnet.tts_inference`) change ESPnet only inside a
``with`` block.
"""

import functools
import importlib
import importlib.abc
import inspect
import logging
import sys
import types
from typing import Callable, Dict, List, Tuple, Type

# name -> "module:Class" of every model this plugin adds (imported lazily on registration)
PLUGIN_TEXT2MEL: Dict[str, str] = {
    "mvc": "espnet_mvc.tts.mvc.mvc:MVC",
}

_registered = False
_loaded_classes: List[Tuple[str, Type]] = []


def _load(path: str) -> Type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _plugin_classes() -> List[Tuple[str, Type]]:
    if not _loaded_classes:
        for name, path in PLUGIN_TEXT2MEL.items():
            try:
                cls = _load(path)
            except ModuleNotFoundError as e:
                # Only tolerate the model module itself being absent (partial checkouts);
                # a missing dependency inside it must surface.
                if e.name and path.startswith(e.name):
                    continue
                raise
            _loaded_classes.append((name.lower(), cls))
    return _loaded_classes


def register_text2mel(name: str, cls: Type) -> None:
    """Make ``cls`` selectable as ``tts: <name>`` in the tts task and joint_text2wav.

    Args:
        name (str): Registry key (lower case, as ``ClassChoices`` requires).
        cls (Type): An ``AbsTTS`` subclass.
    """
    from espnet2.gan_tts.joint import joint_text2wav
    from espnet2.tasks import tts as tts_task

    name = name.lower()
    tts_task.tts_choices.classes[name] = cls  # why: `tts: <name>` is looked up here
    joint_text2wav.AVAILABLE_TEXT2MEL[name] = cls  # why: `text2mel_type` is looked up here


def is_mvc(tts) -> bool:
    """True for an MVC model, also inside ESPnet's joint text2mel + vocoder wrapper."""
    from espnet_mvc.tts.mvc.mvc import MVC

    if isinstance(tts, MVC):
        return True
    generator = getattr(tts, "generator", None)
    # JointText2Wav keeps a ModuleDict {"text2mel", "vocoder"}; VITS/JETS keep a plain
    # generator module (not subscriptable), which is never MVC.
    if generator is None or not hasattr(generator, "__getitem__") or "text2mel" not in generator:
        return False
    return isinstance(generator["text2mel"], MVC)


def _patch_text2speech() -> None:
    """Let ``Text2Speech`` forward its generic decode options to MVC.

    ESPnet's ``Text2Speech`` hands ``speed_control_alpha`` / ``noise_scale`` only to the
    model classes it knows. For MVC they become the ``decode_conf`` keywords ``alpha``
    (speaking rate) and ``temperature`` (sampler noise scale), which ``MVC.inference`` turns
    into its :class:`~espnet_mvc.tts.mvc.decode_options.DecodeOptions`; every other MVC option
    (``n_timesteps``, ``solver``, ``seed``) goes through
    ``Text2Speech.__call__(..., decode_conf={...})``.
    """
    from espnet2.bin import tts_inference

    cls = tts_inference.Text2Speech
    if getattr(cls, "_mvc_patched", False):
        return
    original = cls.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if is_mvc(self.tts):
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            # either left at ESPnet's default: the model's own speaking rate (duration_scale)
            # and temperature (decoder_conf)
            if (bound.arguments["speed_control_alpha"]
                    != signature.parameters["speed_control_alpha"].default):
                self.decode_conf.update(alpha=bound.arguments["speed_control_alpha"])
            if bound.arguments["noise_scale"] != signature.parameters["noise_scale"].default:
                self.decode_conf.update(temperature=bound.arguments["noise_scale"])

    # why: ESPnet maps its generic options onto decode keywords only for models it knows
    cls.__init__ = __init__
    cls._mvc_patched = True


def _patch_joint_text2wav() -> None:
    """Give ``JointText2Wav`` the ``use_gst`` flag of its text2mel.

    ``ESPnetTTSModel.inference`` and ``Text2Speech`` pass a reference (``speech`` ->
    ``feats``) only when ``tts.use_gst`` is true; the joint wrapper does not forward the
    flag, so a jointly trained MVC with a style encoder could not be given a voice.
    """
    from espnet2.gan_tts.joint.joint_text2wav import JointText2Wav

    if not hasattr(JointText2Wav, "use_gst"):
        # why: ESPnet passes a reference clip only to models with use_gst; the wrapper hides it
        JointText2Wav.use_gst = property(
            lambda self: bool(getattr(self.generator["text2mel"], "use_gst", False))
        )


def _add_to_tts_choices(module) -> None:
    for name, cls in _plugin_classes():
        module.tts_choices.classes[name] = cls  # why: `tts: mvc` is looked up here


def _patch_build_vocoder(module) -> None:
    """Let ``TTSTask.build_vocoder_from_file`` load the plugin's own vocoders.

    ``Text2Speech(..., vocoder_file=..., vocoder_config=...)`` builds its vocoder with this
    classmethod, which knows only parallel_wavegan ``.pkl`` files and Griffin-Lim and
    rejects anything else. A ``.pth`` file whose config (``vocoder_config``, default
    ``vocoder.yaml`` next to it) is one of :mod:`espnet_mvc.vocoder`'s is loaded with
    :func:`espnet_mvc.vocoder.load_vocoder` (with a warning if the TTS model's features
    differ from the vocoder's); every other call goes to ESPnet's method.
    """
    cls = module.TTSTask
    if getattr(cls, "_mvc_vocoder_patched", False):
        return
    original = cls.build_vocoder_from_file.__func__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def build_vocoder_from_file(klass, *args, **kwargs):
        bound = signature.bind(klass, *args, **kwargs)
        bound.apply_defaults()
        vocoder_file = bound.arguments["vocoder_file"]
        config = bound.arguments["vocoder_config_file"]
        if vocoder_file is not None and str(vocoder_file).endswith(".pth"):
            from espnet_mvc.vocoder import is_plugin_vocoder, load_vocoder

            if is_plugin_vocoder(vocoder_file, config):
                vocoder = load_vocoder(vocoder_file, config, bound.arguments["device"])
                warn_vocoder_feature_mismatch(vocoder, vocoder_file, bound.arguments["model"])
                return vocoder
        return original(klass, *args, **kwargs)

    # why: Text2Speech builds its vocoder here, and ESPnet's method rejects plugin vocoders
    cls.build_vocoder_from_file = classmethod(build_vocoder_from_file)
    cls._mvc_vocoder_patched = True


def warn_vocoder_feature_mismatch(vocoder, vocoder_file, model) -> None:
    """A vocoder fed features other than its training ones outputs wrong audio silently."""
    from espnet_mvc.vocoder import feature_mismatches

    feats_extract = getattr(model, "feats_extract", None)
    if feats_extract is None or not hasattr(feats_extract, "get_parameters"):
        return
    mismatches = feature_mismatches(vocoder, feats_extract.get_parameters())
    if mismatches:
        logging.warning(
            f"vocoder {vocoder_file} was trained on other features than the TTS model "
            f"produces ({'; '.join(mismatches)}): expect wrong audio"
        )


def _add_g2p(module) -> None:
    """Teach ``espnet2.text.phoneme_tokenizer`` the plugin's g2p types.

    ESPnet has no g2p registry: ``PhonemeTokenizer.__init__`` is an if/elif chain over
    names and ``--g2p`` is validated against the list ``g2p_choices``. Models trained on
    the natural-voice corpus store ``g2p: kokoro_en`` in their config, so ESPnet's own
    ``Text2Speech`` (and packed models) must turn raw text into those symbols. The names are
    appended to ``g2p_choices`` (argparse keeps a reference to that list) and the
    tokenizer built with ``g2p_type=None`` gets the plugin's g2p function.
    """
    from espnet_mvc.text.g2p import plugin_g2p, plugin_g2p_types

    names = list(plugin_g2p_types())
    for name in names:
        if name not in module.g2p_choices:
            module.g2p_choices.append(name)  # why: argparse validates --g2p against this list
    cls = module.PhonemeTokenizer
    if getattr(cls, "_mvc_g2p_patched", False):
        return
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self, g2p_type, *args, **kwargs):
        if g2p_type not in names:
            return original(self, g2p_type, *args, **kwargs)
        original(self, None, *args, **kwargs)
        self.g2p_type = g2p_type
        self.g2p = plugin_g2p(g2p_type)

    # why: ESPnet's g2p choice is an if/elif chain, with no registry to add a g2p to
    cls.__init__ = __init__
    cls._mvc_g2p_patched = True


def _configure_phonemizer(module) -> None:
    from espnet_mvc.text.espeak import configure_phonemizer

    configure_phonemizer()  # why: point it at espeakng-loader's library, with no env variable


def _setup_tts_task(module) -> None:
    _add_to_tts_choices(module)
    _patch_build_vocoder(module)


def _add_to_joint(module) -> None:
    for name, cls in _plugin_classes():
        module.AVAILABLE_TEXT2MEL[name] = cls  # why: `text2mel_type: mvc` is looked up here
    _patch_joint_text2wav()


# ESPnet module -> what the plugin does to it once it is imported
_HOOKS: Dict[str, Callable] = {
    "espnet2.tasks.tts": _setup_tts_task,
    "espnet2.gan_tts.joint.joint_text2wav": _add_to_joint,
    "espnet2.bin.tts_inference": lambda module: _patch_text2speech(),
    "espnet2.text.phoneme_tokenizer": _add_g2p,
    # ESPnet's espeak_ng_* g2p types (and ours) phonemize through it
    "phonemizer.backend.espeak.wrapper": _configure_phonemizer,
}


class _HookLoader(importlib.abc.Loader):
    """Runs the real loader, then the plugin's hook for that module."""

    def __init__(self, inner, fullname: str):
        self._inner = inner
        self._fullname = fullname

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        _HOOKS[self._fullname](module)

    def __getattr__(self, item):  # get_source, get_filename, ... of the real loader
        return getattr(self._inner, item)


class _NotRunYet(types.ModuleType):
    """A module whose code has not run: reading an attribute it lacks runs it."""

    def __getattr__(self, name):  # only called for names the module does not have yet
        loader = self.__spec__.loader
        self.__class__ = types.ModuleType
        loader.run(self)
        return getattr(self, name)


class _RunOnFirstUse(importlib.abc.Loader):
    """Creates the module but runs its code when one of its own attributes is first read.

    Unlike ``importlib.util.LazyLoader``, reading what the import system set
    (``__file__``, ``__spec__``, ``__path__``) does not run it: ``inspect.getmodule``, which
    librosa's lazy loader calls, reads ``__file__`` of every module in ``sys.modules``.
    """

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        module.__class__ = _NotRunYet

    def run(self, module):
        self._inner.exec_module(module)


# Run on first use: ESPnet's phoneme tokenizer imports g2p_en at module level, and g2p_en
# calls nltk.download() at import when its data is missing -- a network request (and a
# stall where DNS hangs) for a g2p our configs never use. Deferred, that happens only if a
# config really picks g2p_en.
_LAZY = ("g2p_en",)


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Meta-path finder that wraps the loaders of the modules in ``_HOOKS`` (and defers the
    modules in ``_LAZY`` to their first use)."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _HOOKS and fullname not in _LAZY:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            if fullname in _LAZY:  # why: g2p_en calls nltk.download() at import
                spec.loader = _RunOnFirstUse(spec.loader)
            else:
                spec.loader = _HookLoader(spec.loader, fullname)
        return spec


def register_now() -> None:
    """Import ESPnet's registries and register the plugin into them at once (idempotent).

    What the ``espnet_mvc.bin.*`` entry points call: they use ESPnet's tasks anyway, so
    registering does not wait for (or depend on) the import hook.
    """
    register_all()
    for fullname, hook in _HOOKS.items():
        try:
            hook(importlib.import_module(fullname))
        except ImportError as e:  # phonemizer is optional for ESPnet
            if not (fullname.startswith("phonemizer") and e.name
                    and fullname.startswith(e.name)):
                raise


def register_all() -> None:
    """Register every plugin model into ESPnet, now or when ESPnet imports (idempotent)."""
    global _registered
    if _registered:
        return
    _registered = True
    if not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        # why: ESPnet's tables can be reached only by importing it, which import espnet_mvc
        # must not do (cheap import); each is filled the moment ESPnet imports it
        sys.meta_path.insert(0, _RegisterOnImport())
    for fullname, hook in _HOOKS.items():
        if fullname in sys.modules:
            hook(sys.modules[fullname])

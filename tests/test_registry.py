"""Plugin registration into ESPnet's class registries.

``import espnet_mvc`` must make ``tts: mvc`` selectable in ``espnet2.tasks.tts``
(``tts_choices``) and as a text2mel in ``joint_text2wav`` (``AVAILABLE_TEXT2MEL``, which the
gan_tts task's ``tts: joint_text2wav`` builds from);
``espnet_mvc.espnet.registry.register_text2mel`` is the mechanism. The gan_tts task's own
``tts_choices`` is left alone: its model needs a GAN generator, which MVC is not.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import espnet_mvc
from espnet_mvc.espnet import registry

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE = REPO_ROOT / "espnet_mvc" / "tts" / "mvc" / "mvc.py"


def _registries():
    from espnet2.gan_tts.joint import joint_text2wav
    from espnet2.tasks import tts as tts_task

    return {
        "espnet2.tasks.tts.tts_choices": tts_task.tts_choices.classes,
        "joint_text2wav.AVAILABLE_TEXT2MEL": joint_text2wav.AVAILABLE_TEXT2MEL,
    }


@pytest.fixture
def cleanup_registries():
    """Remove whatever a test registered (and only that)."""
    before = {name: dict(table) for name, table in _registries().items()}
    yield
    for name, table in _registries().items():
        for key in [k for k in table if k not in before[name]]:
            del table[key]
        table.update(before[name])


def _dummy_tts_class():
    from espnet2.tts.abs_tts import AbsTTS

    class DummyTTS(AbsTTS):
        def __init__(self, idim: int = 4, odim: int = 3):
            super().__init__()
            self.proj = torch.nn.Embedding(idim, odim)

        def forward(self, text, text_lengths, feats, feats_lengths, **kwargs):
            loss = self.proj(text).mean()
            return loss, {"loss": loss.detach()}, torch.tensor(1.0)

        def inference(self, text, **kwargs):
            return {"feat_gen": self.proj(text)}

    return DummyTTS


def test_register_text2mel_mechanism(cleanup_registries):
    from espnet2.tasks.tts import TTSTask

    cls = _dummy_tts_class()
    for table in _registries().values():
        assert "mvc_test_dummy" not in table
    registry.register_text2mel("MVC_Test_Dummy", cls)  # ClassChoices keys are lower case
    for name, table in _registries().items():
        assert table.get("mvc_test_dummy") is cls, name
    # selectable the way ESPnet selects it: ClassChoices.get_class and the task parsers
    from espnet2.tasks import tts as tts_task

    assert tts_task.tts_choices.get_class("mvc_test_dummy") is cls
    args = TTSTask.get_parser().parse_args(["--tts", "mvc_test_dummy"])
    assert args.tts == "mvc_test_dummy"
    # and as JointText2Wav looks text2mel classes up
    from espnet2.gan_tts.joint import joint_text2wav

    assert joint_text2wav.AVAILABLE_TEXT2MEL["mvc_test_dummy"](idim=5, odim=2).proj.num_embeddings == 5


def test_cleanup_fixture_really_cleans(cleanup_registries):
    # runs after the test above: nothing of it may be left behind
    for table in _registries().values():
        assert "mvc_test_dummy" not in table


def test_register_all_is_idempotent(monkeypatch):
    calls = []
    monkeypatch.setattr(registry, "register_text2mel", lambda *a: calls.append(a))
    registry.register_all()  # already done at import
    assert calls == []


@pytest.mark.skipif(not MODEL_FILE.exists(), reason="model module not written yet")
def test_import_registers_mvc():
    from espnet2.tts.abs_tts import AbsTTS

    from espnet_mvc.tts.mvc.mvc import MVC

    assert issubclass(MVC, AbsTTS)
    for name, table in _registries().items():
        assert table.get("mvc") is MVC, name
    assert set(registry.PLUGIN_TEXT2MEL) == {"mvc"}
    assert espnet_mvc.espnet.registry._registered


@pytest.mark.skipif(not MODEL_FILE.exists(), reason="model module not written yet")
def test_tts_train_help_lists_mvc():
    """A fresh interpreter: only the entry point's own ``import espnet_mvc`` registers."""
    out = subprocess.run([sys.executable, "-m", "espnet_mvc.espnet.tts_train", "--help"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    text = " ".join(out.stdout.split())  # argparse wraps the choices over lines
    start = text.index("--tts {")
    choices = text[start + len("--tts {"): text.index("}", start)]
    assert "mvc" in [c.strip() for c in choices.split(",")], choices


def test_import_is_light_and_registers_on_espnet_import():
    """`import espnet_mvc` does not import ESPnet's task stack; importing it registers."""
    import subprocess

    code = (
        "import sys, espnet_mvc\n"
        "assert 'espnet2.tasks.tts' not in sys.modules\n"
        "from espnet2.tasks.tts import tts_choices\n"
        "from espnet2.gan_tts.joint.joint_text2wav import AVAILABLE_TEXT2MEL\n"
        "print('mvc' in tts_choices.classes, 'mvc' in AVAILABLE_TEXT2MEL)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "True True"


def test_g2p_en_is_imported_lazily():
    """ESPnet's phoneme tokenizer imports g2p_en, which calls nltk.download() at import when
    its data is missing (a network request). After ``import espnet_mvc`` that import is lazy:
    nothing runs until a config really uses g2p_en, and then the real module loads."""
    code = (
        "import sys, espnet_mvc, espnet2.text.phoneme_tokenizer\n"
        "print('nltk' in sys.modules)\n"
        "import g2p_en\n"
        "print(callable(g2p_en.G2p), 'nltk' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] == "False", "g2p_en (and nltk) ran at import"
    assert lines[1:] == ["True", "True"], proc.stdout  # first use loads the real module


def test_g2p_en_survives_module_scans():
    """librosa's lazy loader calls ``inspect.stack()``, which reads ``__file__`` of every
    module in ``sys.modules``: that must not run g2p_en (nltk downloads)."""
    code = (
        "import inspect, sys, espnet_mvc, espnet2.text.phoneme_tokenizer\n"
        "inspect.stack()\n"
        "m = sys.modules['g2p_en']\n"
        "print(hasattr(m, '__file__'), 'nltk' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False"], proc.stdout
    assert "nltk_data" not in proc.stderr


def test_import_sets_no_environment_variable():
    code = (
        "import json, os\n"
        "before = dict(os.environ)\n"
        "import espnet_mvc\n"
        "print(json.dumps(sorted(k for k in os.environ if os.environ[k] != before.get(k))))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("PHONEMIZER_ESPEAK_LIBRARY", "ESPEAK_DATA_PATH")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]"], proc.stdout


def test_espnet_espeak_g2p_works_without_environment_variables():
    """ESPnet's own espeak_ng_* g2p finds espeakng-loader's library: phonemizer is configured
    in the process when it loads, not through variables set at import."""
    code = (
        "import espnet_mvc\n"
        "from espnet2.text.phoneme_tokenizer import PhonemeTokenizer\n"
        "print(' '.join(PhonemeTokenizer('espeak_ng_english_us_vits').text2tokens('Hello')))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("PHONEMIZER_ESPEAK_LIBRARY", "ESPEAK_DATA_PATH")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "h" in proc.stdout.splitlines()[-1].split()


def test_entry_points_register_without_the_import_hook():
    """``register_now`` (what the ESPnet entry points call) registers into ESPnet's
    modules by itself; the import hook is only for code that imports ESPnet later."""
    code = (
        "import sys\n"
        "from espnet_mvc.espnet import registry\n"
        "import g2p_en  # deferred (no nltk download) before the finder goes\n"
        "sys.meta_path[:] = [f for f in sys.meta_path\n"
        "                    if not isinstance(f, registry._RegisterOnImport)]\n"
        "from espnet2.tasks import tts\n"
        "print('mvc' in tts.tts_choices.classes)\n"
        "registry.register_now()\n"
        "from espnet2.gan_tts.joint import joint_text2wav\n"
        "from espnet2.text import phoneme_tokenizer\n"
        "print('mvc' in tts.tts_choices.classes, 'mvc' in joint_text2wav.AVAILABLE_TEXT2MEL,\n"
        "      'espeak_ng_multilingual_en' in phoneme_tokenizer.g2p_choices)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-4:] == ["False", "True", "True", "True"], proc.stdout

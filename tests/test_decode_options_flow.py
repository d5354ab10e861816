"""One decode option, one form, from the command line to the solver (issue 24).

``espnet-mvc synth --temperature 0.37`` runs in-process on the shipped model; what reaches
``CFMDecoder.sample`` must be the very :class:`DecodeOptions` the command line built, and
that object must have been built (and checked) once on the way: no dict round trip, no
rebuilding in the model or the decoder.
"""

import pytest

from espnet_mvc import pretrained
from espnet_mvc.bin import cli
from espnet_mvc.tts.mvc.decode_options import DecodeOptions
from espnet_mvc.tts.mvc.flow_matching import CFMDecoder

pytestmark = pytest.mark.skipif("kokoro_en_mvc" not in pretrained.available(),
                                reason="the shipped model is not in this checkout")


def test_temperature_travels_from_the_cli_to_the_solver(tmp_path, monkeypatch):
    built = []  # every DecodeOptions checked (__post_init__ runs in every construction)
    check = DecodeOptions.__post_init__

    def counting_post_init(self):
        built.append(self)
        check(self)

    monkeypatch.setattr(DecodeOptions, "__post_init__", counting_post_init)

    from_args = DecodeOptions.from_args.__func__
    from_cli = []

    def recording_from_args(cls, args):
        from_cli.append(from_args(cls, args))
        return from_cli[-1]

    monkeypatch.setattr(DecodeOptions, "from_args", classmethod(recording_from_args))

    reached = []  # what the solver is given
    sample = CFMDecoder.sample

    def recording_sample(self, mu, mask, style=None, options=None, noise=None):
        reached.append(options)
        return sample(self, mu, mask, style, options, noise)

    monkeypatch.setattr(CFMDecoder, "sample", recording_sample)

    out = tmp_path / "o.wav"
    rc = cli.main(["synth", "--model", "kokoro_en_mvc", "--text", "Hello there.",
                   "--temperature", "0.37", "--out", str(out), "--quiet"])
    assert rc == 0 and out.is_file()
    assert len(reached) == 1
    options = reached[0]
    assert isinstance(options, DecodeOptions) and options.temperature == 0.37
    assert options is from_cli[0]  # the command line's object itself, not a copy
    assert built == [options]  # built and checked exactly once on the way

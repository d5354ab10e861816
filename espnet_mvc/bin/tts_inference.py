"""`python -m espnet_mvc.bin.tts_inference`: ESPnet's `espnet2.bin.tts_inference` with MVC.

Same arguments and behaviour as ESPnet's module, with the plugin registered, plus MVC's own
decoding options (ESPnet's parser does not know them; in a decode YAML they may be given
under the same names):

    --n_timesteps N      flow-matching solver steps (default: the model's config)
    --solver NAME        euler | midpoint
    --temperature X      sampler noise scale (default: --noise_scale, 0.667)

``--speed_control_alpha`` is MVC's speaking rate and ``--noise_scale`` its temperature.
"""

import sys

import espnet_mvc  # noqa: F401  (registers the plugin)
from espnet2.bin import tts_inference as espnet_tts_inference
from espnet.utils.cli_utils import get_commandline_args

from espnet_mvc import registry

MVC_DECODE_OPTIONS = ("n_timesteps", "solver", "temperature")


def get_parser():
    parser = espnet_tts_inference.get_parser()
    group = parser.add_argument_group("MVC decoding")
    group.add_argument("--n_timesteps", type=int, default=None,
                       help="flow-matching solver steps (default: from the model config)")
    group.add_argument("--solver", choices=["euler", "midpoint"], default=None,
                       help="ODE solver (default: from the model config)")
    group.add_argument("--temperature", type=float, default=None,
                       help="sampler noise scale (default: --noise_scale)")
    return parser


def main(cmd=None):
    print(get_commandline_args(), file=sys.stderr)
    args = get_parser().parse_args(cmd)
    kwargs = vars(args)
    kwargs.pop("config", None)
    overrides = {k: kwargs.pop(k) for k in MVC_DECODE_OPTIONS}
    registry.MVC_DECODE_OVERRIDES.update({k: v for k, v in overrides.items() if v is not None})
    espnet_tts_inference.inference(**kwargs)


if __name__ == "__main__":
    main()

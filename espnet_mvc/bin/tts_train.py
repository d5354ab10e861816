"""`python -m espnet_mvc.bin.tts_train`: ESPnet's `espnet2.bin.tts_train` with the MVC plugin registered.

Same arguments and behaviour as ESPnet's module; importing `espnet_mvc` first makes
`tts: mvc` (and the plugin's other classes) selectable.
"""

import espnet_mvc  # noqa: F401  (registers the plugin)
from espnet2.bin.tts_train import main

if __name__ == "__main__":
    main()

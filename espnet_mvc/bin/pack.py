"""`python -m espnet_mvc.bin.pack`: ESPnet's `espnet2.bin.pack` with the MVC plugin registered.

Same arguments and behaviour as ESPnet's module; importing `espnet_mvc` first makes
`tts: mvc` (and the plugin's other classes) selectable.
"""

import espnet_mvc  # noqa: F401  (registers the plugin)
from espnet2.bin.pack import main

if __name__ == "__main__":
    main()

"""Every contact of the plugin with ESPnet, and nothing else.

* :mod:`~espnet_mvc.espnet.registry`: ``tts: mvc`` and the plugin's g2p types in ESPnet's
  tables, and the few run-time changes of ESPnet classes (each with its reason).
* :mod:`~espnet_mvc.espnet.text2speech`: ``MVCText2Speech``, ESPnet's ``Text2Speech`` for MVC
  models without ESPnet's task stack, and ``load_text2speech``.
* :mod:`~espnet_mvc.espnet.features`: ESPnet's ``LogMelFbank`` front end, built fast.
* :mod:`~espnet_mvc.espnet.checkpoints`: ESPnet's checkpoint loads, made weights-only.
* Entry points: ``python -m espnet_mvc.espnet.tts_train --task {tts,gan_tts}`` (ESPnet's
  trainers, with :mod:`~espnet_mvc.espnet.cpu_ledger`'s CPU bookkeeping) and
  ``python -m espnet_mvc.espnet.tts_inference``.

Importing this package imports nothing.
"""

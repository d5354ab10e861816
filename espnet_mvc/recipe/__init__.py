"""Recipe helpers for egs2/*/tts1, run as ``python -m espnet_mvc.recipe.<module>`` by tts.sh
and local/*.sh."""

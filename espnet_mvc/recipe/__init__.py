"""Recipe helpers for egs2/*/tts1 (run by path from tts.sh and local/data.sh)."""

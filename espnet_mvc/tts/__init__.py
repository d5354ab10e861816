"""TTS models of the plugin."""

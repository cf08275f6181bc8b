"""``livefx serve``: one port for the web client, signaling, control and events."""

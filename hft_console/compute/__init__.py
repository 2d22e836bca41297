"""Where independent jobs run: this machine's processes (the default) or a Ray cluster."""

"""Model code shared by live routing and training: observation layout, networks, losses, checkpoint
I/O. No training loop lives here; live code imports this, never ``hft_console.learn``."""

"""vidtrans: video and game-frame domain adaptation."""

__version__ = "0.1.0"

"""recstore: an encrypted store for call recordings and voicemail."""

__version__ = "0.1.0"

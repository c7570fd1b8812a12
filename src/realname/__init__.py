"""RealName: mobile-subscriber real-name registration."""

__version__ = "0.1.0"

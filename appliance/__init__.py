"""On-premise voice appliance for aesthetic clinics."""

__version__ = "0.1.0"

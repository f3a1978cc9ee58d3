"""A local Microsoft Exchange (2016/2019 on-premises) EWS simulator for tests and demos.

It speaks the part of EWS SOAP that exchangelib sends for calendar booking, enforces calendar
folder permissions the way Exchange does, and can inject latency, throttling and outages.
"""

from .server import LogEntry, Simulator

__all__ = ["LogEntry", "Simulator"]

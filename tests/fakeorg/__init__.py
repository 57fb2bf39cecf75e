"""A loopback Salesforce org double for tests: HTTPS on 127.0.0.1, driven by the real simple-salesforce.

See README.md in this folder for the API and what the fake enforces.
"""

from .org import Call, FakeOrg

__all__ = ["Call", "FakeOrg"]

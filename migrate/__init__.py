"""sfeca-migrate: move a Salesforce connected app onto an external client app."""

__version__ = "0.1.0"

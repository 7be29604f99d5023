"""Reporting: figures, and runs compared with each other and with the published numbers."""

"""Connectors (marketing automation in, CRM both ways) and signed outbound webhooks."""

"""Writes of the integrations app: ``webhooks`` (outbound events) and ``support`` (what the
integration API does). Import from the modules: the helpdesk's services publish webhooks, and
the support services call the helpdesk's, so a re-export here would be an import cycle."""

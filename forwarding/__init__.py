"""AI endpoints, in one place: their configuration (rows, API keys, the admin's pages, forms and
commands), the protocols spoken to each provider, the egress guard and the retry policy."""

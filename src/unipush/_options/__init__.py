"""Per-provider option blocks: settings that have no common meaning across providers."""

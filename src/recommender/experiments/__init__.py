"""A/B experiments: arms, sticky assignment of visitors, and the per-arm report with a verdict."""

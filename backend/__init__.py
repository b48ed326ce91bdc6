"""tokenlq's Label Studio ML backend (built in its own issue; empty until then)."""

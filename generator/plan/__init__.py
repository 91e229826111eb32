"""Memory planning: buffers with lifetimes over a schedule, laid out in one static arena."""

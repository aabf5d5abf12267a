"""Model resolution, the embedded base model and the content-addressed model store."""

"""The synthetic world: reproducible people, documents and behaviour for demos and tests."""

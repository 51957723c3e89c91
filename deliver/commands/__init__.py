"""One typed function per command, across an environment: what the CLI calls."""

"""The composition root: settings, bootstrap, the `buddy` CLI."""

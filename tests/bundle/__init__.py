"""Offline checks of the SAM bundle: template lint and transform, sam build, routes and sample events."""

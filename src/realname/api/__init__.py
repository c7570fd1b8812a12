"""The HTTP API: app factory, error model, middleware, and the domain routers it mounts."""

"""The web console at `/console`: a browser front-end over the same services (see router)."""

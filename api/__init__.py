"""The running application: HTTP/websocket surface, CLI and background jobs."""

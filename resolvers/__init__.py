"""What the API does: plain async functions `(ctx, ...) -> result` holding Baton's rules."""

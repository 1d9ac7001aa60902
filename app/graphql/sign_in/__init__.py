"""Members signing in: WeChat sign-in, sessions and their tokens (docs/sign-in.md)."""

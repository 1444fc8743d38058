"""Test doubles and local servers for users' and our own tests.

Nothing here mocks Redis: these are deterministic embedders, a local HTTP
server that speaks the Anthropic and OpenAI APIs, and launchers for real
Redis servers on loopback.
"""

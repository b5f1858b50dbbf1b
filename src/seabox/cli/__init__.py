"""Command-line front ends.

A CLI module only parses flags into options and calls a library function; it never
holds logic of its own, so every behaviour is reachable (and tested) without a shell.
"""

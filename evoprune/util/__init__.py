"""Leaves every layer may use: atomic files, argument checks, device names, plugins, stacked operators."""

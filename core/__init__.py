"""The engine: specs, models, data, recipes, the pmap trainer and run directories; no UI."""
